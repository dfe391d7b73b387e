{{/*
The chart's name, the prefix of every object's name: "leasehold", as
config/default's namePrefix, unless nameOverride is set.
*/}}
{{- define "leasehold.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
An object's name: the chart's name, "-" and the suffix config/ gives it.
Usage: include "leasehold.resourceName" (dict "suffix" "controller-manager" "context" $)
*/}}
{{- define "leasehold.resourceName" -}}
{{- printf "%s-%s" (include "leasehold.name" .context) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object the chart owns: config/'s app.kubernetes.io/name and
Helm's own.
*/}}
{{- define "leasehold.labels" -}}
app.kubernetes.io/name: {{ include "leasehold.name" . }}
{{ include "leasehold.chartLabels" . }}
{{- end }}

{{/*
The labels that say which chart and release an object comes from (the only
labels in which the chart differs from config/default).
*/}}
{{- define "leasehold.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The manager's Pods: the Deployment's selector, the metrics Service's and
the ServiceMonitor's. Fixed, as in config/manager, since a Deployment's
selector cannot change after install.
*/}}
{{- define "leasehold.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leasehold.name" . }}
control-plane: controller-manager
{{- end }}

{{- define "leasehold.serviceAccountName" -}}
{{- include "leasehold.resourceName" (dict "suffix" "controller-manager" "context" .) }}
{{- end }}

{{/*
Where the leader election Lease (and the Role that lets the manager use
it) lives: leaderElection.namespace, or the release's namespace.
*/}}
{{- define "leasehold.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.controllerManager.leaderElection.namespace }}
{{- end }}

{{/*
The rules of one object of config/rbac/role.yaml, which controller-gen
generates from the +kubebuilder:rbac markers (files/role.yaml links to
it), so that the chart never holds a copy that could go stale.
Usage: include "leasehold.generatedRules" (dict "kind" "ClusterRole" "context" $)
*/}}
{{- define "leasehold.generatedRules" -}}
{{- $found := false }}
{{- range regexSplit "(?m)^---[ \t]*$" (.context.Files.Get "files/role.yaml") -1 }}
{{- $doc := fromYaml . }}
{{- if eq (get $doc "kind" | toString) $.kind }}
{{- $found = true }}
{{- toYaml (get $doc "rules") }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "files/role.yaml (config/rbac/role.yaml) has no %s" .kind) }}
{{- end }}
{{- end }}

{{/*
The metrics port's name: https when the manager serves metrics over HTTPS
(metrics.secure), else http.
*/}}
{{- define "leasehold.metricsPortName" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}
