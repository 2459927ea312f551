//go:build !unix

package cli

// openFilesLimit is unknown here.
func openFilesLimit() uint64 { return 0 }
