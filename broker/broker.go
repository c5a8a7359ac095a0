package broker

import (
	"log/slog"
	"net"
)

// Broker is a running broker: a listener, its connections and the log.
// Its methods are safe for concurrent use.
type Broker struct {
	cfg    Config
	logger *slog.Logger
}

// Config returns the broker's configuration (after defaults).
func (b *Broker) Config() Config { return b.cfg }

// Logger returns the broker's logger.
func (b *Broker) Logger() *slog.Logger { return b.logger }

// Conn is one client connection. Its handlers run one at a time.
type Conn struct {
	b        *Broker
	nc       net.Conn
	clientID string
}

// ClientID returns the client id of the request being handled.
func (cc *Conn) ClientID() string { return cc.clientID }

// RemoteAddr returns the client's address.
func (cc *Conn) RemoteAddr() net.Addr { return cc.nc.RemoteAddr() }
