module github.com/sipcast/sipcast

go 1.24.0

require (
	github.com/Eyevinn/mp4ff v0.56.0
	github.com/emiago/sipgo v1.7.2
	github.com/pion/rtcp v1.2.15
	github.com/pion/rtp v1.8.22
	github.com/pion/sdp/v3 v3.0.20
	github.com/pion/srtp/v3 v3.0.8
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.24.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/icholy/digest v1.2.0 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/transport/v3 v3.0.7 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.16.0 // indirect
)
