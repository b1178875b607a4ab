package db

// Waiting is how many goroutines wait for the writer slot.
func (d *DB) Waiting() int32 { return d.waiting.Load() }
