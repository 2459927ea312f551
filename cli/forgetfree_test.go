package cli

import (
	"strings"
	"testing"
	"time"
)

// TestForgetFreeAfterSetting: LOCKER_FORGET_FREE_AFTER is a duration as
// the server's others are (Go syntax or seconds); unset or 0 is off, as
// before it existed; nonsense, and less than the sweep's second, is
// refused at start with a line naming the variable.
func TestForgetFreeAfterSetting(t *testing.T) {
	env := func(v string) Env {
		m := map[string]string{"LOCKER_CONFIG": "/tmp/x.yml"}
		if v != "-" {
			m["LOCKER_FORGET_FREE_AFTER"] = v
		}
		return envOf(m)
	}
	for v, want := range map[string]time.Duration{"-": 0, "0": 0, "0s": 0, "24h": 24 * time.Hour, "90m": 90 * time.Minute, "3600": time.Hour, "1s": time.Second} {
		c, err := loadServerConfig(env(v))
		if err != nil || c.service.ForgetFreeAfter != want {
			t.Errorf("LOCKER_FORGET_FREE_AFTER=%s: %v, %v; want %v", v, c.service.ForgetFreeAfter, err, want)
		}
	}
	for v, want := range map[string]string{
		"-1h":   "negative",
		"soon":  "bad duration",
		"1d":    "bad duration",
		"500ms": "shorter than a second",
		"0.5":   "shorter than a second",
		"1ns":   "shorter than a second",
	} {
		_, err := loadServerConfig(env(v))
		if err == nil || !strings.Contains(err.Error(), "LOCKER_FORGET_FREE_AFTER") || !strings.Contains(err.Error(), want) {
			t.Errorf("LOCKER_FORGET_FREE_AFTER=%s: %v; want a refusal naming the variable and saying %q", v, err, want)
		}
	}
	if !strings.Contains(serverHelp, "LOCKER_FORGET_FREE_AFTER") {
		t.Error("locker server --help does not list LOCKER_FORGET_FREE_AFTER")
	}
}
