package cli

import "testing"

// A table cell made of several strings reads back as those strings: one
// that holds the separator, a quote or a control character is quoted.
func TestDisplayAll(t *testing.T) {
	for _, c := range []struct {
		in   []string
		sep  string
		want string
	}{
		{[]string{"db1", "db2"}, ",", "db1,db2"},
		{[]string{"db1,db2"}, ",", `"db1,db2"`},
		{[]string{"db1,db2", "db3"}, ", ", `"db1,db2", db3`},
		{[]string{"/srv/a b", "/etc"}, " ", `"/srv/a b" /etc`},
		{[]string{`"quoted`, "x"}, ",", `"\"quoted",x`},
		{[]string{"line\nbreak"}, ",", `"line\nbreak"`},
		{[]string{"tab\there"}, " ", `"tab\there"`},
		{nil, ",", ""},
	} {
		if got := displayAll(c.in, c.sep); got != c.want {
			t.Errorf("displayAll(%q, %q) = %s, want %s", c.in, c.sep, got, c.want)
		}
	}
}
