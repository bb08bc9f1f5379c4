// Command lin_crosscheck checks a redis-drill run's per-key histories with
// Porcupine (github.com/anishathalye/porcupine), the field's linearizability
// checker, through a register model written here, apart from redis-drill's
// own: the independent second opinion on the report's
// `linearizability.violations`. Built by benches/lin_crosscheck.py against
// an exported copy of Porcupine's source, offline; not part of redis-drill.
//
// Input on stdin, one key per line:
//
//	{"key": "drill:7", "initial": "v0" | null,
//	 "ops": [{"call": ns, "ret": ns | null, "f": "write" | "read" | "incr", "value": "v" | null}, ...]}
//
// `ret: null` is an op whose outcome is unknown: it is pending to the end of
// the history, so Porcupine may place it anywhere after its call — at the
// very end being the same as never. A write's `value: null` is a DEL; a
// read's is nil; an incr's is the count it returned, or null if unknown.
//
// Output on stdout: one line per key, `<verdict> <key>` (verdict `ok`,
// `illegal` or `unknown` when the per-key timeout ran out), then a JSON
// summary line.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type op struct {
	Call  int64   `json:"call"`
	Ret   *int64  `json:"ret"`
	F     string  `json:"f"`
	Value *string `json:"value"`
}

type key struct {
	Key     string  `json:"key"`
	Initial *string `json:"initial"`
	Ops     []op    `json:"ops"`
}

// A register's value: nil, or a string.
type state struct {
	Nil bool
	V   string
}

type input struct {
	F   string
	Nil bool
	V   string
}

func of(v *string) state {
	if v == nil {
		return state{Nil: true}
	}
	return state{V: *v}
}

func model(initial *string) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return of(initial) },
		Step: func(st, in, out interface{}) (bool, interface{}) {
			s := st.(state)
			i := in.(input)
			switch i.F {
			case "write":
				return true, state{Nil: i.Nil, V: i.V}
			case "read":
				return s == out.(state), s
			case "incr":
				n := int64(0)
				if !s.Nil {
					var err error
					n, err = strconv.ParseInt(s.V, 10, 64)
					if err != nil {
						return false, s
					}
				}
				next := state{V: strconv.FormatInt(n+1, 10)}
				if o := out.(state); !o.Nil && o != next {
					return false, s
				}
				return true, next
			}
			return false, s
		},
	}
}

func main() {
	timeout := 10 * time.Second
	if len(os.Args) > 1 {
		if d, err := time.ParseDuration(os.Args[1]); err == nil {
			timeout = d
		}
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	counts := map[string]int{}
	started := time.Now()
	for in.Scan() {
		var k key
		if err := json.Unmarshal(in.Bytes(), &k); err != nil {
			fmt.Fprintln(os.Stderr, "bad line:", err)
			os.Exit(2)
		}
		ops := make([]porcupine.Operation, 0, len(k.Ops))
		for c, o := range k.Ops {
			ret := int64(math.MaxInt64)
			if o.Ret != nil {
				ret = *o.Ret
			}
			v := of(o.Value)
			var output interface{} = state{Nil: true}
			if o.F == "read" || o.F == "incr" {
				output = v
			}
			ops = append(ops, porcupine.Operation{
				ClientId: c,
				Input:    input{F: o.F, Nil: v.Nil, V: v.V},
				Call:     o.Call,
				Output:   output,
				Return:   ret,
			})
		}
		verdict := "ok"
		switch porcupine.CheckOperationsTimeout(model(k.Initial), ops, timeout) {
		case porcupine.Illegal:
			verdict = "illegal"
		case porcupine.Unknown:
			verdict = "unknown"
		}
		counts[verdict]++
		fmt.Fprintf(out, "%s %s\n", verdict, k.Key)
	}
	summary, _ := json.Marshal(map[string]interface{}{
		"keys": counts["ok"] + counts["illegal"] + counts["unknown"], "ok": counts["ok"],
		"illegal": counts["illegal"], "unknown": counts["unknown"],
		"ms": float64(time.Since(started).Microseconds()) / 1000,
	})
	fmt.Fprintln(out, string(summary))
}
