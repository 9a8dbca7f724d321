package nslab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the host's namespace. Sockets
// that fn creates stay in that namespace for their whole life, so a test can
// dial or listen "from" a lab host without a helper program. fn must not
// start goroutines that create sockets: they run on other threads.
func (h *Host) Do(fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", h.NS))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", h.NS, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		// A thread whose namespace could not be restored is never handed
		// back to the scheduler: returning while still locked ends it.
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", h.NS, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("restore namespace after %s: %w (%v)", h.NS, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Dial opens a connection from inside the host's namespace.
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, address, h.Name, err)
	}
	return c, nil
}

// Listen opens a stream listener inside the host's namespace.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, h.Name, err)
	}
	return ln, nil
}

// ListenPacket opens a packet socket inside the host's namespace. It makes
// Host a nat.PacketListener, so in-process STUN code can probe from a host.
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.Do(func() error {
		var lc net.ListenConfig
		var err error
		pc, err = lc.ListenPacket(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, h.Name, err)
	}
	return pc, nil
}

// WaitTCP waits until a TCP connection to address from this host succeeds.
func (h *Host) WaitTCP(address string, timeout time.Duration) error {
	return WaitFor(timeout, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := h.Dial(ctx, "tcp", address)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
}
