package main

// What the benchmarks (bench/) need of the go peer beyond the interop
// commands: filling the routing table and provider store with given peers,
// counting the DHT messages the node sends, and dropping connections so that
// findPeer has to look a peer up. None of it is used by the interop tests.

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// benchNamespace is the record namespace of the benchmarks' put/get: every
// value is valid, the first of several is the best (as the bench's js nodes
// are configured).
const benchNamespace = "bench"

type permissiveValidator struct{}

func (permissiveValidator) Validate(string, []byte) error { return nil }

func (permissiveValidator) Select(string, [][]byte) (int, error) { return 0, nil }

// outboundCount is what the node itself has sent on the DHT streams it
// opened: streams opened and varint-framed messages written.
type outboundCount struct {
	messages atomic.Int64
	streams  atomic.Int64
}

// countingHost is the host as the DHT sees it: every stream the DHT opens for
// its protocol counts the frames written on it.
type countingHost struct {
	host.Host
	protocol protocol.ID
	count    *outboundCount
}

func (h *countingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil || s.Protocol() != h.protocol {
		return s, err
	}
	h.count.streams.Add(1)
	return &countingStream{Stream: s, count: h.count}, nil
}

// countingStream splits what is written into varint-length-prefixed frames.
type countingStream struct {
	network.Stream
	count *outboundCount
	// header collects a length prefix split across writes; body is what is left of the current frame.
	header []byte
	body   uint64
}

func (s *countingStream) Write(data []byte) (int, error) {
	s.countFrames(data)
	return s.Stream.Write(data)
}

func (s *countingStream) countFrames(data []byte) {
	for len(data) > 0 {
		if s.body > 0 {
			skip := min(s.body, uint64(len(data)))
			s.body -= skip
			data = data[skip:]
			continue
		}
		s.header = append(s.header, data[0])
		data = data[1:]
		length, n := binary.Uvarint(s.header)
		if n == 0 {
			continue // prefix not complete yet
		}
		s.header = s.header[:0]
		if n < 0 {
			continue // not a varint: nothing sensible to count
		}
		s.count.messages.Add(1)
		s.body = length
	}
}

// peerArg is a peer with its addresses, as the bench commands take them.
type peerArg struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

func parsePeer(arg peerArg) (peer.AddrInfo, error) {
	id, err := peer.Decode(arg.ID)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer %q: %w", arg.ID, err)
	}
	info := peer.AddrInfo{ID: id}
	for _, s := range arg.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("address %q: %w", s, err)
		}
		info.Addrs = append(info.Addrs, a)
	}
	return info, nil
}

// benchDispatch answers the bench commands; handled is false for any other command.
func (p *peerProcess) benchDispatch(ctx context.Context, req request) (_ result, handled bool, _ error) {
	switch req.Cmd {
	case "seedRoutingTable":
		for _, arg := range req.Peers {
			info, err := parsePeer(arg)
			if err != nil {
				return nil, true, err
			}
			p.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
			// a full bucket refuses the peer, as it would any newcomer
			_, _ = p.dht.RoutingTable().TryAddPeer(info.ID, true, false)
		}
		return result{"size": p.dht.RoutingTable().Size()}, true, nil
	case "seedProviders":
		c, err := cid.Decode(req.Cid)
		if err != nil {
			return nil, true, fmt.Errorf("cid: %w", err)
		}
		for _, arg := range req.Providers {
			info, err := parsePeer(arg)
			if err != nil {
				return nil, true, err
			}
			if err := p.dht.ProviderStore().AddProvider(ctx, c.Hash(), info); err != nil {
				return nil, true, err
			}
		}
		providers, err := p.dht.ProviderStore().GetProviders(ctx, c.Hash())
		if err != nil {
			return nil, true, err
		}
		return result{"count": len(providers)}, true, nil
	case "sent":
		if p.sent == nil {
			return nil, true, fmt.Errorf("not started with --bench")
		}
		return result{"messages": p.sent.messages.Load(), "streams": p.sent.streams.Load()}, true, nil
	case "disconnect":
		id, err := peer.Decode(req.Peer)
		if err != nil {
			return nil, true, fmt.Errorf("peer: %w", err)
		}
		return nil, true, p.host.Network().ClosePeer(id)
	}
	return nil, false, nil
}
