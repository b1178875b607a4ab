package db

// Waiting is how many goroutines wait for the writer slot.
func (d *DB) Waiting() int32 { return d.waiting.Load() }

// SQLWrites is sqlWrites: whether a raw statement takes the writer slot.
func SQLWrites(sql string) bool { return sqlWrites(sql) }
