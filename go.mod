module github.com/sipcast/sipcast

go 1.24.0

require (
	github.com/pion/rtcp v1.2.15
	github.com/pion/rtp v1.8.22
	github.com/pion/sdp/v3 v3.0.20
	github.com/pion/srtp/v3 v3.0.8
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/transport/v3 v3.0.7 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.22.0 // indirect
)
