package httpapi

// ReadyWaiting returns how many health checks wait for a check of the
// store that has not begun (readiness_test.go).
func (s *Server) ReadyWaiting() int { return s.readiness.Waiting() }
