// Command interop-peer-go runs one go-libp2p host with go-libp2p-kad-dht on
// 127.0.0.1 and drives it with the line protocol of
// test/interop/peers/PROTOCOL.md: JSON requests on stdin, one JSON answer per
// request on stdout, logs on stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// operationTimeout bounds every request, as PROTOCOL.md asks.
const operationTimeout = 30 * time.Second

// maxLine is the longest request line accepted: rawRequest may carry a few
// MiB of base64.
const maxLine = 64 << 20

func main() {
	mode := flag.String("mode", "server", "server or client")
	prefix := flag.String("protocol-prefix", "/ipfs", "DHT protocol prefix: /ipfs gives /ipfs/kad/1.0.0")
	listen := flag.String("listen", "/ip4/127.0.0.1/tcp/0", "listen multiaddr")
	bench := flag.Bool("bench", false, "benchmarks: a permissive /bench/ namespace and a count of the DHT messages sent")
	noAutoRefresh := flag.Bool("no-auto-refresh", false, "no routing-table refresh in the background")
	flag.Parse()

	if err := run(*mode, *prefix, *listen, *bench, *noAutoRefresh); err != nil {
		fmt.Fprintf(os.Stderr, "interop-peer-go: %v\n", err)
		os.Exit(1)
	}
}

func run(mode, prefix, listen string, bench, noAutoRefresh bool) error {
	var dhtMode dht.ModeOpt
	switch mode {
	case "server":
		dhtMode = dht.ModeServer
	case "client":
		dhtMode = dht.ModeClient
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}

	h, err := libp2p.New(
		libp2p.ListenAddrStrings(listen),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Ping(true),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return fmt.Errorf("starting host: %w", err)
	}

	kadProtocol := protocol.ID(prefix + "/kad/1.0.0")
	options := []dht.Option{
		dht.Mode(dhtMode),
		// go checks that a DHT on the /ipfs prefix is the Amino DHT, whose only
		// namespaces are pk and ipns; the /test namespace needs another prefix
		// with the protocol named explicitly.
		dht.ProtocolPrefix("/effect-kad-interop"),
		dht.V1ProtocolOverride(kadProtocol),
		dht.NamespacedValidator(testNamespace, testValidator{}),
		// loopback peers are admitted and queried; addresses are kept as they are
		dht.QueryFilter(func(_ any, _ peer.AddrInfo) bool { return true }),
		dht.RoutingTableFilter(func(_ any, _ peer.ID) bool { return true }),
		dht.AddressFilter(nil),
	}
	var sent *outboundCount
	dhtHost := h
	if bench {
		sent = &outboundCount{}
		dhtHost = &countingHost{Host: h, protocol: kadProtocol, count: sent}
		options = append(options, dht.NamespacedValidator(benchNamespace, permissiveValidator{}))
	}
	if noAutoRefresh {
		options = append(options, dht.DisableAutoRefresh())
	}
	kad, err := dht.New(dhtHost, options...)
	if err != nil {
		_ = h.Close()
		return fmt.Errorf("starting DHT: %w", err)
	}

	p := &peerProcess{host: h, dht: kad, protocol: kadProtocol, sent: sent, out: bufio.NewWriter(os.Stdout)}
	addrs := make([]string, 0)
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.String())
	}
	p.emit(map[string]any{"event": "ready", "peerId": h.ID().String(), "addrs": addrs})

	p.serve(os.Stdin)
	p.shutdown()
	return nil
}

// peerProcess is the running host and DHT plus the serialised stdout.
type peerProcess struct {
	host     host.Host
	dht      *dht.IpfsDHT
	protocol protocol.ID
	// sent counts the DHT messages this node sends (--bench only, else nil)
	sent *outboundCount

	mu  sync.Mutex
	out *bufio.Writer

	stopOnce sync.Once
}

// request is one line of stdin; arguments not used by a command are ignored.
type request struct {
	ID              json.RawMessage `json:"id"`
	Cmd             string          `json:"cmd"`
	Peer            string          `json:"peer"`
	Addrs           []string        `json:"addrs"`
	Key             string          `json:"key"`
	Value           string          `json:"value"`
	Cid             string          `json:"cid"`
	Count           int             `json:"count"`
	Seq             uint64          `json:"seq"`
	ValiditySeconds float64         `json:"validitySeconds"`
	Bytes           string          `json:"bytes"`
	Peers           []peerArg       `json:"peers"`
	Providers       []peerArg       `json:"providers"`
}

// emit writes one JSON line to stdout.
func (p *peerProcess) emit(line map[string]any) {
	encoded, err := json.Marshal(line)
	if err != nil {
		encoded, _ = json.Marshal(map[string]any{"id": line["id"], "ok": false, "error": err.Error()})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.out.Write(encoded)
	_ = p.out.WriteByte('\n')
	_ = p.out.Flush()
}

// serve answers requests until stdin closes or a stop request arrives.
func (p *peerProcess) serve(in io.Reader) {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 0, 64*1024), maxLine)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var req request
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			fmt.Fprintf(os.Stderr, "interop-peer-go: unreadable request %q: %v\n", line, err)
			continue
		}
		if req.Cmd == "stop" {
			// answers first, then exits: pending requests are abandoned
			p.emit(map[string]any{"id": req.ID, "ok": true})
			return
		}
		go p.answer(req)
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "interop-peer-go: reading stdin: %v\n", err)
	}
}

// answer runs one request under its deadline and writes its answer.
func (p *peerProcess) answer(req request) {
	ctx, cancel := context.WithTimeout(context.Background(), operationTimeout)
	defer cancel()
	result, err := p.dispatch(ctx, req)
	line := map[string]any{}
	for k, v := range result {
		line[k] = v
	}
	line["id"] = req.ID
	if err != nil {
		line["ok"] = false
		line["error"] = err.Error()
	} else {
		line["ok"] = true
	}
	p.emit(line)
}

func (p *peerProcess) shutdown() {
	p.stopOnce.Do(func() {
		done := make(chan struct{})
		go func() {
			_ = p.dht.Close()
			_ = p.host.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			fmt.Fprintln(os.Stderr, "interop-peer-go: shutdown took over 5 s, exiting anyway")
		}
	})
}
