package wal

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The crash test runs this test binary again as a child process (see
// TestMain) that appends from several goroutines with SyncAlways and
// reports every acknowledged record on a pipe, kills it with SIGKILL at a
// random instant, reopens the log and checks that every acknowledged
// record is there, that every record is whole and that no batch is split.

const crashChildEnv = "GOWAL_CRASH_CHILD_DIR" // set: this process is the child

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashKey names one record: writer g, its round i, entry j of a batch of n.
func crashKey(g, i, j, n int) string { return fmt.Sprintf("g%d-%d-%d/%d", g, i, j, n) }

// crashValue derives a record's value from its key, 0 to 15 copies of it.
func crashValue(key string) []byte {
	return []byte(strings.Repeat(key+";", int(crc32.ChecksumIEEE([]byte(key))%16)))
}

// crashChild appends until it is killed (or for 30 s at most), writing
// "seq key" to fd 3 for each record once its append has returned.
func crashChild(dir string) {
	acks := os.NewFile(3, "acks")
	w, err := Open(dir, &Options{SegmentSize: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	ack := make(chan string, 64)
	deadline := time.Now().Add(30 * time.Second)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := 0; time.Now().Before(deadline); i++ {
				n := 1 + i%3 // single records and batches of 2 and 3
				entries := make([]Entry, n)
				for j := range entries {
					key := crashKey(g, i, j, n)
					entries[j] = Entry{Op: OpPut, Key: []byte(key), Value: crashValue(key)}
				}
				last, err := w.AppendBatch(entries)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(1)
				}
				for j, e := range entries {
					ack <- fmt.Sprintf("%d %s\n", last-uint64(n-1-j), e.Key)
				}
			}
		}(g)
	}
	for line := range ack { // one writer: lines never interleave
		if _, err := acks.WriteString(line); err != nil {
			os.Exit(1)
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	acked := map[uint64]string{} // over every round: seq -> key
	for round := 0; round < 5; round++ {
		killChild(t, dir, time.Duration(20+rng.Intn(200))*time.Millisecond, acked)
		checkAfterCrash(t, dir, acked)
	}
	t.Logf("%d acknowledged records checked", len(acked))
}

// killChild starts a child appending to dir, kills it delay after its first
// acknowledgement and adds every record it acknowledged to acked.
func killChild(t *testing.T, dir string, delay time.Duration, acked map[uint64]string) {
	t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stderr strings.Builder
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		for s := bufio.NewScanner(r); s.Scan(); {
			lines <- s.Text()
		}
	}()

	giveUp := time.After(60 * time.Second)
	var kill <-chan time.Time // armed by the first acknowledgement
	killed := false
	for {
		select {
		case line, ok := <-lines:
			if !ok { // the pipe closed: the child is gone
				if err := cmd.Wait(); !killed {
					t.Fatalf("the child exited by itself (%v): %s", err, stderr.String())
				}
				return
			}
			if kill == nil && !killed {
				kill = time.After(delay)
			}
			var seq uint64
			var key string
			if _, err := fmt.Sscanf(line, "%d %s", &seq, &key); err != nil {
				t.Fatalf("bad line %q from the child: %v", line, err)
			}
			acked[seq] = key
		case <-kill:
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			kill, killed = nil, true
		case <-giveUp:
			cmd.Process.Kill()
			t.Fatalf("the child did not finish within 60 s (killed: %v): %s", killed, stderr.String())
		}
	}
}

// checkAfterCrash recovers the log in dir and checks it: seqs without a
// gap, every record whole, every acknowledged record present, no batch
// split.
func checkAfterCrash(t *testing.T, dir string, acked map[uint64]string) {
	t.Helper()
	w := openT(t, dir, nil)
	records := readAll(t, w, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64]Record{}
	for i, r := range records {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d: a gap", i+1, r.Seq)
		}
		if !bytes.Equal(r.Value, crashValue(string(r.Key))) {
			t.Fatalf("record %d (%s) has a wrong value %q", r.Seq, r.Key, r.Value)
		}
		bySeq[r.Seq] = r
	}
	for seq, key := range acked {
		if r := bySeq[seq]; string(r.Key) != key {
			t.Fatalf("acknowledged record %d (%s) is lost: the log has %d records, seq %d holds %q",
				seq, key, len(records), seq, r.Key)
		}
	}
	for _, r := range records {
		var g, i, j, n int
		if _, err := fmt.Sscanf(string(r.Key), "g%d-%d-%d/%d", &g, &i, &j, &n); err != nil {
			t.Fatalf("record %d has a key %q the child does not write", r.Seq, r.Key)
		}
		for k := 0; k < n; k++ {
			seq := r.Seq - uint64(j) + uint64(k)
			if want := crashKey(g, i, k, n); string(bySeq[seq].Key) != want {
				t.Fatalf("batch split: record %d (%s) is there, but seq %d holds %q, not %s",
					r.Seq, r.Key, seq, bySeq[seq].Key, want)
			}
		}
	}
}
