package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The Gearman peer speaks the binary protocol itself (a handful of packet
// types), so that it is driven by the same producers, worker count and
// clock as the other modes. gearman.org/protocol describes the packets.
const (
	gmCanDo        = 1
	gmPreSleep     = 4
	gmNoop         = 6
	gmJobCreated   = 8
	gmGrabJob      = 9
	gmNoJob        = 10
	gmJobAssign    = 11
	gmWorkComplete = 13
	gmSubmitJobBG  = 18
	gmError        = 19
)

var (
	gmReq = [4]byte{0, 'R', 'E', 'Q'}
	gmRes = [4]byte{0, 'R', 'E', 'S'}
)

// gmConn is one connection to gearmand.
type gmConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func gmDial(addr string) (*gmConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("gearmand at %s: %w", addr, err)
	}
	return &gmConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

func (g *gmConn) send(typ uint32, args ...[]byte) error {
	size := 0
	for i, a := range args {
		size += len(a)
		if i > 0 {
			size++
		}
	}
	var h [12]byte
	copy(h[:4], gmReq[:])
	binary.BigEndian.PutUint32(h[4:], typ)
	binary.BigEndian.PutUint32(h[8:], uint32(size))
	g.w.Write(h[:])
	for i, a := range args {
		if i > 0 {
			g.w.WriteByte(0)
		}
		g.w.Write(a)
	}
	return g.w.Flush()
}

func (g *gmConn) recv() (uint32, []byte, error) {
	var h [12]byte
	if _, err := io.ReadFull(g.r, h[:]); err != nil {
		return 0, nil, err
	}
	if [4]byte(h[:4]) != gmRes {
		return 0, nil, errors.New("gearman: bad packet magic")
	}
	typ := binary.BigEndian.Uint32(h[4:])
	data := make([]byte, binary.BigEndian.Uint32(h[8:]))
	if _, err := io.ReadFull(g.r, data); err != nil {
		return 0, nil, err
	}
	if typ == gmError {
		return 0, nil, fmt.Errorf("gearman: error %q", data)
	}
	return typ, data, nil
}

// openGearman submits background jobs to gearmand and runs -concurrency
// workers, one connection each, as the gearman command-line worker does.
func openGearman(o options, rec *recorder) (*system, error) {
	if o.gearman == "" {
		return nil, errors.New("-mode gearman needs -gearman host:port")
	}
	fn := []byte(o.gearmanFunc)
	var stopping atomic.Bool
	var wg sync.WaitGroup
	var workers []*gmConn
	closeAll := func() {
		stopping.Store(true)
		for _, w := range workers {
			w.c.Close()
		}
		wg.Wait()
	}
	for range o.concurrency {
		w, err := gmDial(o.gearman)
		if err != nil {
			closeAll()
			return nil, err
		}
		workers = append(workers, w)
		if err := w.send(gmCanDo, fn); err != nil {
			closeAll()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gmWork(w, rec); err != nil && !stopping.Load() {
				fmt.Println("jobsbench: gearman worker:", err)
			}
		}()
	}
	// One connection per producer goroutine: a pool as big as -producers.
	pool := make(chan *gmConn, o.producers)
	var mu sync.Mutex
	var clients []*gmConn
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	var seq atomic.Int64
	return &system{
		label: "store=none redis=gearmand@" + o.gearman,
		enqueue: func(_ context.Context, p payload) error {
			var c *gmConn
			select {
			case c = <-pool:
			default:
				var err error
				if c, err = gmDial(o.gearman); err != nil {
					return err
				}
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
			}
			// A unique id per job: gearmand squashes background jobs with
			// the same one when it persists them.
			uniq := nonce + "-" + strconv.FormatInt(seq.Add(1), 10)
			if err := c.send(gmSubmitJobBG, fn, []byte(uniq), encode(p)); err != nil {
				return err
			}
			typ, _, err := c.recv()
			if err != nil {
				return err
			}
			if typ != gmJobCreated {
				return fmt.Errorf("gearman: submit answered packet %d", typ)
			}
			select {
			case pool <- c:
			default:
				c.c.Close()
			}
			return nil
		},
		close: func() {
			closeAll()
			mu.Lock()
			for _, c := range clients {
				c.c.Close()
			}
			mu.Unlock()
		},
	}, nil
}

// gmWork is one worker's loop: grab a job, run the empty handler, report
// it complete; when there is none, sleep until gearmand wakes it.
func gmWork(w *gmConn, rec *recorder) error {
	for {
		if err := w.send(gmGrabJob); err != nil {
			return err
		}
		typ, data, err := w.recv()
		for err == nil && typ == gmNoop {
			typ, data, err = w.recv()
		}
		if err != nil {
			return err
		}
		switch typ {
		case gmNoJob:
			if err := w.send(gmPreSleep); err != nil {
				return err
			}
			for {
				typ, _, err := w.recv()
				if err != nil {
					return err
				}
				if typ == gmNoop {
					break
				}
			}
		case gmJobAssign:
			// handle \0 function \0 argument
			parts := splitN0(data, 3)
			if len(parts) != 3 {
				return fmt.Errorf("gearman: job assign %q", data)
			}
			p, err := decode(parts[2])
			if err != nil {
				return err
			}
			rec.started(p)
			if err := w.send(gmWorkComplete, parts[0], nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("gearman: grab answered packet %d", typ)
		}
	}
}

// splitN0 splits b at its first n-1 NUL bytes.
func splitN0(b []byte, n int) [][]byte {
	var out [][]byte
	for len(out) < n-1 {
		i := indexByte(b, 0)
		if i < 0 {
			break
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return append(out, b)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
