// Command driver times Porcupine (github.com/anishathalye/porcupine) on
// the test histories shipped with it, for redis-drill's `lin` bench, which
// checks the same histories with its own checker and sets the two side by
// side. It is built by the bench against an exported copy of Porcupine's
// source, offline, and is not part of redis-drill itself.
//
// Usage: driver TEST_DATA RUNS FILE...
//
// Each FILE (relative to TEST_DATA: jepsen/etcd_NNN.log, an etcd register
// under Jepsen; kv/*.txt, a key/value store) is read into Porcupine's
// events the way Porcupine's own tests read it, then checked RUNS times
// with CheckEvents; the best time is kept, parsing excluded. One JSON
// object per line on stdout: first {"go": version}, then per file
// {"file", "ops", "verdict", "ms"}.
//
// The models are written here, to the semantics of the ones in
// Porcupine's tests: the etcd register (read, write, compare-and-set; an
// operation that timed out may have happened) and the key/value store
// partitioned by key (get, put, append). Both give Porcupine a state hash,
// which its cache uses to skip comparisons.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// registerNil is the etcd register's empty value: the logs only write
// non-negative integers.
const registerNil = -1

type registerCall struct {
	f    byte // 'r' read, 'w' write, 'c' compare-and-set
	arg  int  // the value written, or the value compare-and-set expects
	arg2 int  // the value compare-and-set writes
}

type registerReturn struct {
	unknown bool // timed out: any answer, and it may have happened
	ok      bool // compare-and-set succeeded
	value   int  // what a read saw (registerNil: nothing)
}

var registerModel = porcupine.Model{
	Init: func() interface{} { return registerNil },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		now := state.(int)
		call := in.(registerCall)
		ret := out.(registerReturn)
		switch call.f {
		case 'r':
			return ret.unknown || ret.value == now, now
		case 'w':
			return true, call.arg
		default:
			swaps := now == call.arg
			next := now
			if swaps {
				next = call.arg2
			}
			return ret.unknown || ret.ok == swaps, next
		}
	},
	Hash: func(state interface{}) uint64 { return uint64(state.(int)) },
}

type kvCall struct {
	f     byte // 'g' get, 'p' put, 'a' append
	key   string
	value string
}

var kvModel = porcupine.Model{
	PartitionEvent: byKey,
	Init:           func() interface{} { return "" },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		now := state.(string)
		call := in.(kvCall)
		switch call.f {
		case 'g':
			return out.(string) == now, now
		case 'p':
			return true, call.value
		default:
			return true, now + call.value
		}
	},
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

// byKey splits a key/value history into one history per key, keys in
// order, each event in its original order.
func byKey(events []porcupine.Event) [][]porcupine.Event {
	keyOf := map[int]string{}
	parts := map[string][]porcupine.Event{}
	for _, e := range events {
		if e.Kind == porcupine.CallEvent {
			keyOf[e.Id] = e.Value.(kvCall).key
		}
		k := keyOf[e.Id]
		parts[k] = append(parts[k], e)
	}
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Event, 0, len(keys))
	for _, k := range keys {
		out = append(out, parts[k])
	}
	return out
}

// history builds events from calls and returns matched by process.
type history struct {
	events  []porcupine.Event
	open    map[int]int         // process -> id of its call awaiting a return
	pending map[int]interface{} // id -> return given to it if it never returns
	calls   int
}

func newHistory() *history {
	return &history{open: map[int]int{}, pending: map[int]interface{}{}}
}

func (h *history) call(proc int, in interface{}, ifPending interface{}) {
	id := h.calls
	h.calls++
	h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: in, Id: id})
	h.open[proc] = id
	h.pending[id] = ifPending
}

func (h *history) ret(proc int, out interface{}) {
	id, ok := h.open[proc]
	if !ok {
		return
	}
	delete(h.open, proc)
	delete(h.pending, id)
	h.events = append(h.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: out, Id: id})
}

// finish returns, after everything else, each op still open, or drops its
// call when its answer would be needed and is unknown (a get).
func (h *history) finish() []porcupine.Event {
	ids := make([]int, 0, len(h.pending))
	for id := range h.pending {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	drop := map[int]bool{}
	for _, id := range ids {
		if h.pending[id] == nil {
			drop[id] = true
			continue
		}
		h.events = append(h.events, porcupine.Event{Kind: porcupine.ReturnEvent, Value: h.pending[id], Id: id})
	}
	if len(drop) == 0 {
		return h.events
	}
	kept := h.events[:0]
	for _, e := range h.events {
		if !drop[e.Id] {
			kept = append(kept, e)
		}
	}
	return kept
}

// parseEtcd reads lines like "INFO  jepsen.util - 3	:ok	:cas	[1 4]".
func parseEtcd(path string) ([]porcupine.Event, int) {
	h := newHistory()
	eachLine(path, func(line string) {
		w := strings.Fields(line)
		if len(w) < 7 || w[0] != "INFO" {
			return
		}
		proc, err := strconv.Atoi(w[3])
		if err != nil {
			return
		}
		typ, f := w[4], w[5]
		pair := func() (int, int) {
			a, _ := strconv.Atoi(strings.TrimPrefix(w[6], "["))
			b, _ := strconv.Atoi(strings.TrimSuffix(w[7], "]"))
			return a, b
		}
		timedOut := registerReturn{unknown: true}
		switch {
		case typ == ":invoke" && f == ":read":
			h.call(proc, registerCall{f: 'r'}, timedOut)
		case typ == ":invoke" && f == ":write":
			v, _ := strconv.Atoi(w[6])
			h.call(proc, registerCall{f: 'w', arg: v}, timedOut)
		case typ == ":invoke" && f == ":cas":
			a, b := pair()
			h.call(proc, registerCall{f: 'c', arg: a, arg2: b}, timedOut)
		case typ == ":ok" && f == ":read":
			v := registerNil
			if w[6] != "nil" {
				v, _ = strconv.Atoi(w[6])
			}
			h.ret(proc, registerReturn{value: v})
		case typ == ":ok" && f == ":write":
			h.ret(proc, registerReturn{})
		case (typ == ":ok" || typ == ":fail") && f == ":cas":
			h.ret(proc, registerReturn{ok: typ == ":ok"})
		case typ == ":fail" && f == ":read":
			h.ret(proc, timedOut)
		}
		// ":info" (timed out) leaves the op open: it returns, unknown, at
		// the end.
	})
	return h.finish(), h.calls
}

// parseKv reads lines like
// {:process 3, :type :ok, :f :get, :key "1", :value "x 3 0 y"}.
func parseKv(path string) ([]porcupine.Event, int) {
	h := newHistory()
	eachLine(path, func(line string) {
		line = strings.TrimSuffix(strings.TrimPrefix(line, "{:"), "}")
		fields := map[string]string{}
		for _, kv := range strings.Split(line, ", :") {
			if sp := strings.IndexByte(kv, ' '); sp > 0 {
				fields[kv[:sp]] = kv[sp+1:]
			}
		}
		proc, err := strconv.Atoi(fields["process"])
		if err != nil {
			return
		}
		unquote := func(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`) }
		key, value := unquote(fields["key"]), unquote(fields["value"])
		switch fields["type"] {
		case ":invoke":
			switch fields["f"] {
			case ":get":
				h.call(proc, kvCall{f: 'g', key: key}, nil)
			case ":put":
				h.call(proc, kvCall{f: 'p', key: key, value: value}, "")
			case ":append":
				h.call(proc, kvCall{f: 'a', key: key, value: value}, "")
			}
		case ":ok":
			h.ret(proc, value)
		}
	})
	return h.finish(), h.calls
}

func eachLine(path string, f func(string)) {
	file, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "driver:", err)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: driver TEST_DATA RUNS FILE..."))
	}
	dir := os.Args[1]
	runs, err := strconv.Atoi(os.Args[2])
	if err != nil || runs < 1 {
		fail(fmt.Errorf("RUNS must be a positive integer, not %q", os.Args[2]))
	}
	out := json.NewEncoder(os.Stdout)
	out.Encode(map[string]string{"go": runtime.Version()})
	for _, file := range os.Args[3:] {
		path := filepath.Join(dir, file)
		var events []porcupine.Event
		var ops int
		model := registerModel
		if strings.HasPrefix(file, "kv/") {
			events, ops = parseKv(path)
			model = kvModel
		} else {
			events, ops = parseEtcd(path)
		}
		best := time.Duration(1<<63 - 1)
		verdict := ""
		for i := 0; i < runs; i++ {
			runtime.GC()
			start := time.Now()
			ok := porcupine.CheckEvents(model, events)
			took := time.Since(start)
			if took < best {
				best = took
			}
			verdict = "violation"
			if ok {
				verdict = "linearizable"
			}
		}
		out.Encode(map[string]interface{}{
			"file":    file,
			"ops":     ops,
			"verdict": verdict,
			"ms":      float64(best.Nanoseconds()) / 1e6,
		})
	}
}
