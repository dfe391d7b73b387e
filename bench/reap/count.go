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

package main

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// counts counts requests by verb and resource, e.g. "PATCH distributedlocks",
// "PATCH distributedlocks/status", "POST events.k8s.io/events",
// "WATCH distributedlocks". Its wrap goes into the manager's
// rest.Config.WrapTransport, so every client the manager builds from that
// config (its cache's list and watch, the reconciler's writes, the Event
// recorder's) is counted in one place.
type counts struct {
	mu sync.Mutex
	m  map[string]int64
	// wrote, when set, hears of every write of a DistributedLock that
	// succeeded (namespace, name): in the manager those are the reaps.
	wrote func(namespace, name string)
}

func newCounts() *counts { return &counts{m: map[string]int64{}} }

// wrap is a rest.Config.WrapTransport.
func (c *counts) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		key := classify(req)
		c.mu.Lock()
		c.m[key]++
		wrote := c.wrote
		c.mu.Unlock()
		resp, err := rt.RoundTrip(req)
		if wrote != nil && err == nil && resp.StatusCode < 300 &&
			(key == "PATCH distributedlocks" || key == "DELETE distributedlocks") {
			if ns, name, ok := objectOf(req); ok {
				wrote(ns, name)
			}
		}
		return resp, err
	})
}

// objectOf returns the namespace and name a request for one namespaced
// object addresses (.../namespaces/NS/RESOURCE/NAME).
func objectOf(req *http.Request) (namespace, name string, ok bool) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	for i := 0; i+3 < len(parts); i++ {
		if parts[i] == "namespaces" {
			return parts[i+1], parts[i+3], true
		}
	}
	return "", "", false
}

// snapshot copies the counts so far.
func (c *counts) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// classify names a request "VERB resource[/subresource]", the resource
// prefixed with its API group unless it is core or locks.leasehold.dev's.
// VERB is the HTTP method, except LIST and WATCH for reads of a collection.
func classify(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	group := ""
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:] // api, v1
	case len(parts) >= 3 && parts[0] == "apis":
		group = parts[1]
		parts = parts[3:] // apis, group, version
	default:
		return req.Method + " " + req.URL.Path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:] // namespaces/NS/resource/...; namespaces/NS alone is a namespace
	}
	resource, name, sub := "", "", ""
	if len(parts) > 0 {
		resource = parts[0]
	}
	if len(parts) > 1 {
		name = parts[1]
	}
	if len(parts) > 2 {
		sub = "/" + parts[2]
	}
	if group != "" && group != "locks.leasehold.dev" {
		resource = group + "/" + resource
	}
	verb := req.Method
	if verb == http.MethodGet && name == "" {
		verb = "LIST"
		if req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1" {
			verb = "WATCH"
		}
	}
	return verb + " " + resource + sub
}

// writeSplit sorts the manager's requests between two snapshots into the
// kinds the report shows.
type writeSplit struct {
	// Reaping is the reconciler's writes of the locks themselves: the
	// guarded merge patch (reapPolicy Release) and the guarded Delete.
	Reaping int64 `json:"reaping"`
	// Events is Event writes (events.k8s.io or core, POST or PATCH).
	Events int64 `json:"events"`
	// Status is writes of distributedlocks/status.
	Status int64 `json:"status"`
	// Other is every other write (none expected).
	Other int64 `json:"other"`
	// Reads is GET, LIST and WATCH requests (the cache lists and watches;
	// the reconciler reads from the cache).
	Reads int64 `json:"reads"`
	// ByVerb is every request counted, by "VERB resource".
	ByVerb map[string]int64 `json:"byVerb"`
}

func (w writeSplit) writes() int64 { return w.Reaping + w.Events + w.Status + w.Other }

func split(before, after map[string]int64) writeSplit {
	w := writeSplit{ByVerb: map[string]int64{}}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		d := after[k] - before[k]
		if d == 0 {
			continue
		}
		w.ByVerb[k] = d
		verb, resource, _ := strings.Cut(k, " ")
		switch {
		case verb == "GET" || verb == "LIST" || verb == "WATCH":
			w.Reads += d
		case resource == "distributedlocks/status":
			w.Status += d
		case resource == "distributedlocks":
			w.Reaping += d
		case resource == "events" || resource == "events.k8s.io/events":
			w.Events += d
		default:
			w.Other += d
		}
	}
	return w
}
