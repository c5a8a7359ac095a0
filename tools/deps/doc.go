// Package deps holds the project's one list of external programs and files
// (packages.tsv), the installer that installs what is missing (install.sh,
// make deps), and a test that fails when the code, a script or the Makefile
// runs a program the list does not cover. It has no Go API.
package deps
