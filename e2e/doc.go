// Package e2e holds the end-to-end tests that cross the project's parts and
// processes: the built binaries started as a user starts them, a real
// Prometheus scraping the broker, the lab's main job in miniature, and the
// Vagrantfile checked by Vagrant itself. TestMain builds bin/broker, bin/lab
// and bin/kfake into a temporary directory once per run.
package e2e
