package idp

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address of the browser: the connection's peer, or, when
// that peer is a trusted proxy, the nearest X-Forwarded-For entry that is
// not one. Entries further left could be forged by the client, so they are
// never believed.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if !s.trusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // a malformed entry: stop at the last address we can trust
		}
		hop = hop.Unmap()
		if !s.trusted(hop) {
			return hop
		}
		ip = hop
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
