// Package systemd holds the systemd units of the streamer and the uploader
// (sipcast-streamer.service, sipcast-uploader.service) and the test that checks them with
// systemd-analyze verify. See README.md for the installation steps.
package systemd
