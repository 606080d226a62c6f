// appendcaps prints the capacity of a slice each time append grows it, for
// the element sizes of issue 13, pointer-free ([N]byte) and with pointers
// (a pointer in the first word): "noscan|scan SIZE LEN OLDCAP NEWCAP".
// tests/host/test_goruntime.c compares our growslice with this output
// (appendcaps.golden, regenerated and diffed by tests/run_all.py when a Go
// toolchain is installed).
package main

import "fmt"

const limit = 10000

type p8 struct{ p *int }
type p24 struct {
	p    *int
	a, b int
}
type p40 struct {
	p *int
	a [4]int
}
type p72 struct {
	p *int
	a [8]int
}

func run[T any](kind string, size int) {
	var s []T
	var zero T
	for i := 0; i < limit; i++ {
		old := cap(s)
		s = append(s, zero)
		if cap(s) != old {
			fmt.Println(kind, size, len(s), old, cap(s))
		}
	}
}

func main() {
	run[[1]byte]("noscan", 1)
	run[[8]byte]("noscan", 8)
	run[[24]byte]("noscan", 24)
	run[[40]byte]("noscan", 40)
	run[[72]byte]("noscan", 72)
	run[p8]("scan", 8)
	run[p24]("scan", 24)
	run[p40]("scan", 40)
	run[p72]("scan", 72)
}
