package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// group runs a write for many callers at once (group commit): each caller
// waits while the write before its own runs, and the next write takes all
// that queued up meanwhile. An idle queue writes at once, so a lone caller
// waits for no timer; a busy one writes one statement where it would have
// written hundreds.
type group[T any] struct {
	ch     chan groupReq[T]
	quit   chan struct{}
	done   chan struct{}
	max    int
	write  func(ctx context.Context, items []T) error
	writes atomic.Int64
}

type groupReq[T any] struct {
	item T
	err  chan error
}

var errQueueClosed = errors.New("queue: closed")

func newGroup[T any](max int, write func(ctx context.Context, items []T) error) *group[T] {
	g := &group[T]{ch: make(chan groupReq[T], max), quit: make(chan struct{}), done: make(chan struct{}),
		max: max, write: write}
	go g.run()
	return g
}

// do writes item with whatever else is waiting and returns the outcome of
// that write. It does not give up when the caller's context ends: the
// write may have happened, and the caller must not think otherwise.
func (g *group[T]) do(item T) error {
	r := groupReq[T]{item: item, err: make(chan error, 1)}
	select {
	case g.ch <- r:
	case <-g.quit:
		return errQueueClosed
	}
	select {
	case err := <-r.err:
		return err
	case <-g.done:
		select { // answered on the way out, or never taken
		case err := <-r.err:
			return err
		default:
			return errQueueClosed
		}
	}
}

func (g *group[T]) run() {
	defer close(g.done)
	items := make([]T, 0, g.max)
	reqs := make([]groupReq[T], 0, g.max)
	for {
		select {
		case r := <-g.ch:
			items, reqs = append(items[:0], r.item), append(reqs[:0], r)
		more:
			for len(items) < g.max {
				select {
				case r := <-g.ch:
					items, reqs = append(items, r.item), append(reqs, r)
				default:
					break more
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := g.write(ctx, items)
			cancel()
			g.writes.Add(1)
			for _, r := range reqs {
				r.err <- err
			}
			clear(items)
		case <-g.quit:
			// Callers that got in before quit are answered; later ones
			// saw quit themselves.
			for {
				select {
				case r := <-g.ch:
					r.err <- errQueueClosed
				default:
					return
				}
			}
		}
	}
}

// close stops the writer once the write under way has ended.
func (g *group[T]) close() {
	close(g.quit)
	<-g.done
}
