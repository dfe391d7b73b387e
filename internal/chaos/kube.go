package chaos

import (
	"net"
	"net/url"

	"k8s.io/client-go/rest"
)

// RestConfigVia returns a copy of base whose requests go to proxyAddr (a
// faultproxy in front of base's API server) while TLS still verifies the
// API server's own name: the proxy passes the TLS bytes through untouched.
func RestConfigVia(base *rest.Config, proxyAddr string) (*rest.Config, error) {
	u, err := url.Parse(base.Host)
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(base)
	if cfg.TLSClientConfig.ServerName == "" {
		host := u.Hostname()
		if net.ParseIP(host) == nil {
			// An IP address is verified against the certificate's IP
			// SANs by address; only a name goes into ServerName.
			cfg.TLSClientConfig.ServerName = host
		}
	}
	u.Host = proxyAddr
	cfg.Host = u.String()
	return cfg, nil
}
