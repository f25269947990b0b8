//go:build tools

// Package tools records the command this module builds, so that `go mod tidy`
// keeps its dependencies. It is never compiled (build tag "tools").
package tools

import (
	_ "github.com/oauth2-proxy/oauth2-proxy/v7"
)
