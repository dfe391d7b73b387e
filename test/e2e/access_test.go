/*
Copyright 2026 The Leasehold Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("Who may scrape the metrics and use the locks", func() {
	It("serves metrics to a token leasehold-metrics-reader allows (200), not without one (401) nor to others (403)",
		func(ctx SpecContext) {
			ms := managers(ctx)
			Expect(ms).NotTo(BeEmpty())
			m := ms[0]
			stranger := serviceAccountToken(ctx, deployNamespace, "e2e-not-a-scraper")

			// Eventually: the API server's RBAC cache learns new bindings
			// within moments.
			Eventually(func(g Gomega) {
				code, body, err := m.Scrape(ctx, scraperToken)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusOK), body)
				g.Expect(body).To(ContainSubstring("leasehold_distributedlock_reaps_total"))
			}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(poll).Should(Succeed())

			code, body, err := m.Scrape(ctx, "")
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusUnauthorized), body)
			Expect(body).NotTo(ContainSubstring("leasehold_"))

			code, body, err = m.Scrape(ctx, stranger)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusForbidden), body)
			Expect(body).To(ContainSubstring("system:serviceaccount:" + deployNamespace + ":e2e-not-a-scraper"))
			Expect(body).NotTo(ContainSubstring("leasehold_"))
		})

	It("lets lockctl take a lock as a ServiceAccount bound to leasehold-lock-editor, and refuses one bound to leasehold-lock-viewer",
		func(ctx SpecContext) {
			nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-roles-"}}
			Expect(k8sClient.Create(ctx, nsObj)).To(Succeed())
			ns := nsObj.Name
			lockctlAs := func(kc string, args ...string) (string, error) {
				cmd := exec.CommandContext(ctx, lockctlBin, append([]string{"--backend", "kubernetes://" + ns}, args...)...)
				cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
				out, err := cmd.CombinedOutput()
				return string(out), err
			}

			editor := writeTokenKubeconfig(ns+"-editor", boundServiceAccountToken(ctx, ns, "worker-editor", "RoleBinding", "leasehold-lock-editor"))
			viewer := writeTokenKubeconfig(ns+"-viewer", boundServiceAccountToken(ctx, ns, "worker-viewer", "RoleBinding", "leasehold-lock-viewer"))
			// Eventually: the API server's RBAC cache learns new bindings
			// within moments; acquiring again as the holder only renews.
			Eventually(func(g Gomega) {
				out, err := lockctlAs(editor, "acquire", "--key", "e2e/roles", "--holder", "editor", "--lease", "1m", "-o", "json")
				g.Expect(err).NotTo(HaveOccurred(), out)
				g.Expect(out).To(ContainSubstring(`"editor"`))
			}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(poll).Should(Succeed())
			Eventually(func(g Gomega) {
				out, err := lockctlAs(viewer, "get", "--key", "e2e/roles")
				g.Expect(err).NotTo(HaveOccurred(), "a viewer may read: %s", out)
				g.Expect(out).To(ContainSubstring("editor"))
			}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(poll).Should(Succeed())

			out, err := lockctlAs(viewer, "acquire", "--key", "e2e/roles-viewer", "--holder", "viewer", "--lease", "1m")
			var exit *exec.ExitError
			Expect(errors.As(err, &exit)).To(BeTrue(), "lockctl acquire as a viewer: %v\n%s", err, out)
			Expect(out).To(ContainSubstring("permission denied"))
			Expect(out).To(ContainSubstring(`User "system:serviceaccount:` + ns + `:worker-viewer" cannot create resource "distributedlocks"`))
			Expect(out).To(ContainSubstring("leasehold-lock-editor"))

		})
})

// serviceAccountToken creates the ServiceAccount ns/name unless it exists
// and returns a token for it from the TokenRequest API.
func serviceAccountToken(ctx context.Context, ns, name string) string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, sa))).To(Succeed())
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(k8sClient.SubResource("token").Create(ctx, sa, req)).To(Succeed())
	Expect(req.Status.Token).NotTo(BeEmpty())
	return req.Status.Token
}

// boundServiceAccountToken binds the ServiceAccount ns/name to the
// ClusterRole role with a binding of kind ("RoleBinding" in ns, or
// "ClusterRoleBinding") and returns a token for it.
func boundServiceAccountToken(ctx context.Context, ns, name, kind, role string) string {
	GinkgoHelper()
	token := serviceAccountToken(ctx, ns, name)
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	var binding client.Object
	if kind == "ClusterRoleBinding" {
		binding = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name}, RoleRef: ref, Subjects: subjects}
	} else {
		binding = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, RoleRef: ref, Subjects: subjects}
	}
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, binding))).To(Succeed())
	return token
}

// writeTokenKubeconfig writes a kubeconfig for the suite's cluster that
// authenticates with token, and returns its path.
func writeTokenKubeconfig(name, token string) string {
	GinkgoHelper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
		CertificateAuthority: cfg.CAFile, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name}
	kc.CurrentContext = "e2e"
	path := filepath.Join(binDir, name+".kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}
