package supervisor

import (
	"errors"
	"testing"

	"github.com/forkmq/forkmq/internal/scoreboard"
)

// TestSlots: with a scoreboard a worker's slot is a board slot with the
// generation that proves it; once the board is full, workers get numbers
// past it, unique among live workers, and the board's lack of room is
// said once until it frees a slot; freed slots are reused.
func TestSlots(t *testing.T) {
	tests := []struct {
		name  string
		board *scoreboard.Board
	}{
		{"with a board of 2", scoreboard.New(2)},
		{"counting off", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := slots{board: tt.board}
			type taken struct {
				slot int
				gen  uint64
			}
			var live []taken
			errs := 0
			for range 4 {
				slot, gen, err := sl.take()
				if err != nil {
					errs++
					if !errors.Is(err, scoreboard.ErrFull) {
						t.Errorf("take: %v, want ErrFull", err)
					}
				}
				for _, l := range live {
					if l.slot == slot {
						t.Fatalf("slot %d given twice (live %v)", slot, live)
					}
				}
				live = append(live, taken{slot, gen})
			}
			onBoard := 0
			for _, l := range live {
				if l.gen != 0 {
					onBoard++
					if l.slot >= tt.board.Slots() {
						t.Errorf("board slot %d past the board's %d", l.slot, tt.board.Slots())
					}
				}
			}
			wantOnBoard, wantErrs := 2, 1
			if tt.board == nil {
				wantOnBoard, wantErrs = 0, 0
			}
			if onBoard != wantOnBoard || errs != wantErrs {
				t.Errorf("%d of 4 slots on the board, %d errors; want %d and %d", onBoard, errs, wantOnBoard, wantErrs)
			}
			for _, l := range live {
				if err := sl.free(l.slot, l.gen); err != nil {
					t.Errorf("free %v: %v", l, err)
				}
			}
			slot, gen, err := sl.take()
			if err != nil || (tt.board != nil) != (gen != 0) {
				t.Errorf("take after freeing every slot: %d gen %d, %v", slot, gen, err)
			}
		})
	}
}
