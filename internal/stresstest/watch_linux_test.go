package stresstest

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// watchStop is the file whose creation ends a watch.
const watchStop = ".stress-watch-stop"

// fsEvent is a file created or renamed into a watched directory, and when
// the test saw it.
type fsEvent struct {
	name    string
	renamed bool
	at      time.Time
}

// watcher records, with inotify, when files appear in a directory while a
// calibration run writes: when the run takes its lock and when its last
// rename lands is the window that kills must hit.
type watcher struct {
	dir    string
	fd     int
	mu     sync.Mutex
	events []fsEvent
	done   chan struct{}
	// anchor, if set, picks the event that closes hit.
	anchor func(name string) bool
	hit    chan struct{}
}

// watch watches dir; anchor (nil: none) picks the first event that closes
// hit.
func watch(dir string, anchor func(name string) bool) (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	w := &watcher{dir: dir, fd: fd, done: make(chan struct{}), anchor: anchor, hit: make(chan struct{})}
	go w.loop()
	return w, nil
}

func (w *watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		at := time.Now()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameAt := off + syscall.SizeofInotifyEvent
			name := string(bytes.TrimRight(buf[nameAt:nameAt+int(ev.Len)], "\x00"))
			off = nameAt + int(ev.Len)
			if name == watchStop {
				return
			}
			if w.anchor != nil && w.anchor(name) {
				close(w.hit)
				w.anchor = nil
			}
			w.mu.Lock()
			w.events = append(w.events, fsEvent{name: name, renamed: ev.Mask&syscall.IN_MOVED_TO != 0, at: at})
			w.mu.Unlock()
		}
	}
}

// stop ends the watch and returns what it saw.
func (w *watcher) stop() ([]fsEvent, error) {
	p := filepath.Join(w.dir, watchStop)
	err := os.WriteFile(p, nil, 0o600)
	if err == nil {
		<-w.done
		err = os.Remove(p)
	}
	syscall.Close(w.fd)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events, err
}
