package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestRawString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" with ok false: not taken
		ok   bool
	}{
		{`"abc"`, "abc", true},
		{`  "a b"`, "a b", true},
		{`""`, "", true},
		{`"ünï 🔒"`, "ünï 🔒", true},
		{`"a\"b"`, "", false},     // an escape
		{`"a\nb"`, "", false},     // an escape
		{"\"a\tb\"", "", false},   // a control character: invalid JSON
		{"\"a\xffb\"", "", false}, // not UTF-8: encoding/json replaces it
		{`"abc`, "", false},       // no closing quote
		{`abc`, "", false},
		{``, "", false},
	} {
		d := New([]byte(c.in))
		s, quoted, ok := d.RawString()
		if ok != c.ok || string(s) != c.want {
			t.Errorf("RawString(%q) = %q, %v; want %q, %v", c.in, s, ok, c.want, c.ok)
			continue
		}
		if ok {
			var dec string
			if err := json.Unmarshal(quoted, &dec); err != nil || dec != c.want {
				t.Errorf("RawString(%q): quoted form %s decodes to %q (%v)", c.in, quoted, dec, err)
			}
		}
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{
		{`0`, 0, true},
		{` 42`, 42, true},
		{`-7`, -7, true},
		{`9223372036854775807`, 1<<63 - 1, true},
		{`9223372036854775808`, 0, false}, // too large
		{`01`, 0, false},                  // not JSON
		{`-`, 0, false},
		{`- 1`, 0, false},
		{`1.5`, 0, false}, // a fraction
		{`1e3`, 0, false}, // an exponent
		{`x`, 0, false},
	} {
		d := New([]byte(c.in))
		n, ok := d.Int()
		if ok != c.ok || n != c.want {
			t.Errorf("Int(%q) = %d, %v; want %d, %v", c.in, n, ok, c.want, c.ok)
		}
	}
}

func TestObject(t *testing.T) {
	members := func(in string, unique bool) (map[string]string, bool) {
		d := New([]byte(in))
		got := map[string]string{}
		ok := d.Object(unique, func(name []byte) bool {
			s, _, ok := d.RawString()
			got[string(name)] = string(s)
			return ok
		}) && d.End()
		return got, ok
	}
	for _, c := range []struct {
		in     string
		unique bool
		want   map[string]string
		ok     bool
	}{
		{`{}`, true, map[string]string{}, true},
		{` { "a" : "1" , "b":"2" } `, true, map[string]string{"a": "1", "b": "2"}, true},
		{`{"a":"1","a":"2"}`, false, map[string]string{"a": "2"}, true}, // as a map: the last wins
		{`{"a":"1","a":"2"}`, true, nil, false},                         // as a struct: merged, left to encoding/json
		{`{"a":"1",}`, true, nil, false},
		{`{"a" "1"}`, true, nil, false},
		{`{"a":"1"`, true, nil, false},
		{`{"a":"1"} x`, true, nil, false}, // data after it (End)
		{`{"a":1}`, true, nil, false},     // the field refused its value
		{`{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","i":"","j":"","k":"","l":""}`, true,
			map[string]string{"a": "", "b": "", "c": "", "d": "", "e": "", "f": "", "g": "", "h": "", "i": "", "j": "", "k": "", "l": ""}, true},
		{`{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","i":"","j":"","k":"","l":"","m":""}`, true, nil, false}, // over maxMembers
	} {
		got, ok := members(c.in, c.unique)
		if ok != c.ok {
			t.Errorf("Object(%s, unique %v) = %v, want %v", c.in, c.unique, ok, c.ok)
			continue
		}
		if ok && len(got) != len(c.want) {
			t.Errorf("Object(%s) gave %v, want %v", c.in, got, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("Object(%s) gave %v, want %v", c.in, got, c.want)
				break
			}
		}
	}
}

func TestByteAndPeek(t *testing.T) {
	d := New([]byte(" [ ]"))
	if !d.Peek('[') || !d.Byte('[') || d.Byte('[') || !d.Peek(']') || !d.Byte(']') || !d.End() {
		t.Error("Byte and Peek do not follow the tokens of \" [ ]\"")
	}
}
