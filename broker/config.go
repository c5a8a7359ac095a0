package broker

// Config is the broker's configuration.
type Config struct{}
