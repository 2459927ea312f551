package cli

import (
	"strings"
	"testing"
	"time"
)

// TestMaxWaitSetting: LOCKER_MAX_WAIT=0 does not silently mean the 10m
// default (nor "no waits"): it is refused at start, naming the variable, as
// LOCKER_READ_TIMEOUT=0 is. Unset keeps the default.
func TestMaxWaitSetting(t *testing.T) {
	env := func(v string) Env {
		m := map[string]string{"LOCKER_CONFIG": "/tmp/x.yml"}
		if v != "-" {
			m["LOCKER_MAX_WAIT"] = v
		}
		return envOf(m)
	}
	for v, want := range map[string]time.Duration{"-": 0, "1m": time.Minute, "30": 30 * time.Second, "1ms": time.Millisecond} {
		c, err := loadServerConfig(env(v))
		if err != nil || c.service.MaxWait != want {
			t.Errorf("LOCKER_MAX_WAIT=%s: %v, %v; want %v", v, c.service.MaxWait, err, want)
		}
	}
	for v, want := range map[string]string{"0": "more than zero", "0s": "more than zero", "-1m": "negative", "soon": "bad duration"} {
		_, err := loadServerConfig(env(v))
		if err == nil || !strings.Contains(err.Error(), "LOCKER_MAX_WAIT") || !strings.Contains(err.Error(), want) {
			t.Errorf("LOCKER_MAX_WAIT=%s: %v; want a refusal naming the variable and saying %q", v, err, want)
		}
	}
}
