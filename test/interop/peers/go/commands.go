package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
)

// maxRawResponse caps what rawRequest collects, as PROTOCOL.md says.
const maxRawResponse = 1 << 20

// defaultIpnsTTL is the TTL written into IPNS records: the specification's 5 minutes.
const defaultIpnsTTL = 5 * time.Minute

type result = map[string]any

var b64 = base64.StdEncoding

func (p *peerProcess) dispatch(ctx context.Context, req request) (result, error) {
	if answer, handled, err := p.benchDispatch(ctx, req); handled {
		return answer, err
	}
	switch req.Cmd {
	case "addrs":
		return result{"addrs": p.addrStrings()}, nil
	case "connect":
		return nil, p.connect(ctx, req)
	case "put":
		key, err := b64.DecodeString(req.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		value, err := b64.DecodeString(req.Value)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		return nil, p.dht.PutValue(ctx, string(key), value)
	case "get":
		key, err := b64.DecodeString(req.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		value, err := p.dht.GetValue(ctx, string(key))
		if errors.Is(err, routing.ErrNotFound) {
			return result{"value": nil}, nil
		}
		if err != nil {
			return nil, err
		}
		return result{"value": b64.EncodeToString(value)}, nil
	case "provide":
		c, err := cid.Decode(req.Cid)
		if err != nil {
			return nil, fmt.Errorf("cid: %w", err)
		}
		return nil, p.dht.Provide(ctx, c, true)
	case "findProviders":
		c, err := cid.Decode(req.Cid)
		if err != nil {
			return nil, fmt.Errorf("cid: %w", err)
		}
		providers := make([]result, 0)
		for info := range p.dht.FindProvidersAsync(ctx, c, req.Count) {
			providers = append(providers, addrInfo(info))
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return result{"providers": providers}, nil
	case "findPeer":
		id, err := peer.Decode(req.Peer)
		if err != nil {
			return nil, fmt.Errorf("peer: %w", err)
		}
		info, err := p.dht.FindPeer(ctx, id)
		if errors.Is(err, routing.ErrNotFound) {
			return result{"peer": nil}, nil
		}
		if err != nil {
			return nil, err
		}
		return result{"peer": addrInfo(info)}, nil
	case "getClosestPeers":
		key, err := b64.DecodeString(req.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		peers, err := p.dht.GetClosestPeers(ctx, string(key))
		if err != nil {
			return nil, err
		}
		return result{"peers": idStrings(peers)}, nil
	case "routingTable":
		return result{"peers": idStrings(p.dht.RoutingTable().ListPeers())}, nil
	case "refresh":
		// a lookup of our own ID, as the other implementations' refresh does first
		_, err := p.dht.GetClosestPeers(ctx, string(p.host.ID()))
		return nil, err
	case "ipnsRecord":
		return p.ipnsRecord(req)
	case "pkRecord":
		pub, err := crypto.MarshalPublicKey(p.host.Peerstore().PubKey(p.host.ID()))
		if err != nil {
			return nil, err
		}
		key := "/pk/" + string(p.host.ID())
		return result{"key": b64.EncodeToString([]byte(key)), "record": b64.EncodeToString(pub)}, nil
	case "validate":
		key, err := b64.DecodeString(req.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		value, err := b64.DecodeString(req.Value)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if err := p.dht.Validator.Validate(string(key), value); err != nil {
			return result{"valid": false, "error": err.Error()}, nil
		}
		return result{"valid": true}, nil
	case "rawRequest":
		return p.rawRequest(ctx, req)
	default:
		return nil, fmt.Errorf("unknown command %q", req.Cmd)
	}
}

func (p *peerProcess) addrStrings() []string {
	addrs := make([]string, 0)
	for _, a := range p.host.Addrs() {
		addrs = append(addrs, a.String())
	}
	return addrs
}

func addrInfo(info peer.AddrInfo) result {
	addrs := make([]string, 0, len(info.Addrs))
	for _, a := range info.Addrs {
		addrs = append(addrs, a.String())
	}
	return result{"id": info.ID.String(), "addrs": addrs}
}

func idStrings(ids []peer.ID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id.String())
	}
	return out
}

// connect dials the peer (or reuses a connection) and waits until identify
// has finished on every connection to it, so the DHT knows its protocols.
func (p *peerProcess) connect(ctx context.Context, req request) error {
	id, err := peer.Decode(req.Peer)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	info := peer.AddrInfo{ID: id}
	for _, s := range req.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("address %q: %w", s, err)
		}
		info.Addrs = append(info.Addrs, a)
	}
	if err := p.host.Connect(ctx, info); err != nil {
		return err
	}
	ids, ok := p.host.(interface{ IDService() identify.IDService })
	if !ok {
		return errors.New("host has no identify service")
	}
	for _, conn := range p.host.Network().ConnsToPeer(id) {
		select {
		case <-ids.IDService().IdentifyWait(conn):
		case <-ctx.Done():
			return fmt.Errorf("identify did not finish: %w", ctx.Err())
		}
	}
	return nil
}

func (p *peerProcess) ipnsRecord(req request) (result, error) {
	value, err := path.NewPath(req.Value)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	validity := time.Duration(req.ValiditySeconds * float64(time.Second))
	record, err := ipns.NewRecord(p.host.Peerstore().PrivKey(p.host.ID()), value, req.Seq, time.Now().Add(validity), defaultIpnsTTL)
	if err != nil {
		return nil, err
	}
	bytes, err := ipns.MarshalRecord(record)
	if err != nil {
		return nil, err
	}
	key := ipns.NameFromPeer(p.host.ID()).RoutingKey()
	return result{"key": b64.EncodeToString(key), "record": b64.EncodeToString(bytes)}, nil
}

// rawRequest writes bytes as they are on a new DHT stream and collects what
// comes back until the remote ends the stream or one complete frame has
// arrived (a server that answered keeps the stream open for more requests).
func (p *peerProcess) rawRequest(ctx context.Context, req request) (result, error) {
	id, err := peer.Decode(req.Peer)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	bytes, err := b64.DecodeString(req.Bytes)
	if err != nil {
		return nil, fmt.Errorf("bytes: %w", err)
	}
	stream, err := p.host.NewStream(ctx, id, p.protocol)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = stream.SetDeadline(deadline)
	}
	// the write may fail when the remote resets part way through a large frame;
	// the read below reports how the stream ended
	go func() { _, _ = stream.Write(bytes) }()

	response := make([]byte, 0, 4096)
	buf := make([]byte, 64*1024)
	for {
		n, err := stream.Read(buf)
		response = append(response, buf[:n]...)
		if len(response) > maxRawResponse {
			response = response[:maxRawResponse]
		}
		if err == nil && (completeFrame(response) || len(response) == maxRawResponse) {
			_ = stream.Reset()
			return rawResult(response, false), nil
		}
		if errors.Is(err, io.EOF) {
			_ = stream.Close()
			return rawResult(response, false), nil
		}
		if errors.Is(err, network.ErrReset) {
			return rawResult(response, true), nil
		}
		if err != nil {
			_ = stream.Reset()
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				return nil, fmt.Errorf("stream still open after %s", operationTimeout)
			}
			// any other failure of the stream is the remote tearing it down
			return rawResult(response, true), nil
		}
	}
}

func rawResult(response []byte, reset bool) result {
	return result{"response": b64.EncodeToString(response), "reset": reset}
}

// completeFrame tells whether data starts with a whole varint-length-prefixed frame.
func completeFrame(data []byte) bool {
	length, n := binary.Uvarint(data)
	return n > 0 && uint64(len(data)-n) >= length
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
