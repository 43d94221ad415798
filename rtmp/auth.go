package rtmp

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// Adobe authentication (authmod=adobe), as ffmpeg, Wowza and Vbrick DME implement it:
//
//  1. connect with app "?authmod=adobe&user=U" (or with no parameters, to learn that the
//     server wants authentication: "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ]");
//  2. the server rejects with "... : ?reason=needauth&user=U&salt=S&challenge=C&opaque=O";
//  3. the client reconnects with "?authmod=adobe&user=U&challenge=C2&response=R&opaque=O"
//     where R = base64(md5(base64(md5(U+S+P)) + O + C2)), O replaced by C when absent;
//  4. "?reason=authfailed" means a wrong password, "?reason=nosuchuser" an unknown user.

// adobeResponse computes the response for a challenge.
func adobeResponse(user, password, salt, opaque, challenge, clientChallenge string) string {
	h1 := md5.Sum([]byte(user + salt + password))
	s1 := base64.StdEncoding.EncodeToString(h1[:])
	second := s1
	if opaque != "" {
		second += opaque
	} else {
		second += challenge
	}
	h2 := md5.Sum([]byte(second + clientChallenge))
	return base64.StdEncoding.EncodeToString(h2[:])
}

// adobeChallengeParams extracts the parameters after "?reason=needauth".
func parseAuthDescription(desc string) (url.Values, bool) {
	i := strings.Index(desc, "?reason=")
	if i < 0 {
		return nil, false
	}
	return parseRawQuery(desc[i+1:]), true
}

// adobeStep decides the next connect query after a rejection. It returns the query (without
// '?') and whether another attempt makes sense, or an error a person can act on.
func adobeStep(u *URL, desc string, clientChallenge string) (string, error) {
	if !strings.Contains(desc, "authmod=adobe") {
		return "", nil
	}
	if u.User == "" {
		return "", fmt.Errorf("%w: add user:password to the URL", ErrAuthRequired)
	}
	if strings.Contains(desc, "code=403 need auth") {
		return "authmod=adobe&user=" + url.QueryEscape(u.User), nil
	}
	v, ok := parseAuthDescription(desc)
	if !ok {
		return "", nil
	}
	switch v.Get("reason") {
	case "needauth":
		resp := adobeResponse(u.User, u.Password, v.Get("salt"), v.Get("opaque"), v.Get("challenge"), clientChallenge)
		q := "authmod=adobe&user=" + url.QueryEscape(u.User) + "&challenge=" + clientChallenge + "&response=" + url.QueryEscape(resp)
		if o := v.Get("opaque"); o != "" {
			q += "&opaque=" + url.QueryEscape(o)
		}
		return q, nil
	case "authfailed":
		return "", fmt.Errorf("%w: wrong password for user %q", ErrAuthFailed, u.User)
	case "nosuchuser":
		return "", fmt.Errorf("%w: unknown user %q", ErrAuthFailed, u.User)
	}
	return "", fmt.Errorf("%w: %s", ErrAuthFailed, v.Get("reason"))
}
