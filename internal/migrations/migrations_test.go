package migrations

import (
	"fmt"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"m/0002_search.sql": {Data: []byte("B")},
		"m/0001_init.sql":   {Data: []byte("A")},
		"m/README.md":       {Data: []byte("not a migration")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Migration{1, "init", "A"}) || ms[1] != (Migration{2, "search", "B"}) {
		t.Errorf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"bad name": {"m/init.sql": {}},
		"no one":   {"m/0002_b.sql": {}},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func ExampleLoad() {
	ms, _ := Load(fstest.MapFS{"m/0001_init.sql": {Data: []byte("CREATE TABLE t (x)")}}, "m")
	fmt.Println(ms[0].Version, ms[0].Name, ms[0].SQL)
	// Output: 1 init CREATE TABLE t (x)
}
