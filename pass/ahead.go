package pass

// batchesAhead is how many batches may be at the target at once, in each
// stage that talks to it: the people look-ups of the decide stage and the
// writes of the apply stage. A batch ends with its slowest request, often
// one waiting out a Retry-After; with the next batch's requests already
// going, the target's allowed rate is not left idle in the meantime.
const batchesAhead = 2

// ahead runs the target's side of a stage's batches in the background, up
// to batchesAhead at once, and hands each result on in the order the
// batches started: look-ups run ahead while decisions are taken one batch
// after the other, writes run ahead while each batch is recorded after its
// writes. The zero value is ready to use; it is used by one goroutine.
type ahead[T any] struct {
	running []chan T
}

// start runs work in the background. When batchesAhead batches are already
// running, the oldest one's result is first handed to next.
func (a *ahead[T]) start(work func() T, next func(T) error) error {
	if len(a.running) == batchesAhead {
		if err := a.next(next); err != nil {
			return err
		}
	}
	c := make(chan T, 1)
	go func() { c <- work() }()
	a.running = append(a.running, c)
	return nil
}

// next waits for the oldest batch and hands its result to fn.
func (a *ahead[T]) next(fn func(T) error) error {
	c := a.running[0]
	a.running = a.running[1:]
	return fn(<-c)
}

// finish hands every running batch's result to fn, in order.
func (a *ahead[T]) finish(fn func(T) error) error {
	for len(a.running) > 0 {
		if err := a.next(fn); err != nil {
			return err
		}
	}
	return nil
}

// wait waits for the batches still running and drops their results: a
// stage that stops early leaves nothing behind it.
func (a *ahead[T]) wait() {
	for _, c := range a.running {
		<-c
	}
	a.running = nil
}
