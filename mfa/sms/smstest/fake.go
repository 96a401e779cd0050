package smstest

import (
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// What the fake provider servers (xoxzofake, twiliofake and the OTP
// fakes) share: reading a request as they record it, reading its fields,
// and answering after a delay.

// ReadRequest reads what a fake records of r: the body (at most 1 MiB),
// its media type without parameters, and the Basic auth credentials.
func ReadRequest(r *http.Request) (body []byte, ctype, user, pass string) {
	body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	ctype, _, _ = mime.ParseMediaType(r.Header.Get("Content-Type"))
	user, pass, _ = r.BasicAuth()
	return body, ctype, user, pass
}

// ParseFields reads a form or a JSON object into url.Values: JSON strings
// as they are, a list as one value each, null as a present key without
// values, anything else as its JSON text. Other media types give nil.
func ParseFields(ctype string, body []byte) (url.Values, error) {
	switch ctype {
	case "application/x-www-form-urlencoded":
		return url.ParseQuery(string(body))
	case "application/json":
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, err
		}
		f := url.Values{}
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				f.Add(k, v)
			case []any:
				for _, x := range v {
					if str, ok := x.(string); ok {
						f.Add(k, str)
					} else {
						b, _ := json.Marshal(x)
						f.Add(k, string(b))
					}
				}
			case nil:
				f[k] = nil
			default:
				b, _ := json.Marshal(v)
				f.Add(k, string(b))
			}
		}
		return f, nil
	}
	return nil, nil
}

// Respond waits delay, giving up when the client does (the request was
// recorded already: a slow provider that did send), then writes the reply.
func Respond(w http.ResponseWriter, r *http.Request, delay time.Duration, status int, header http.Header, body []byte) {
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	maps.Copy(w.Header(), header)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
