package upstream

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"
)

// startChecks runs one checker per target. Each starts at a random offset
// within health_interval, so N gateways started together do not probe a
// target in lock step, then keeps its own phase. They stop at Close.
func (p *Pool) startChecks(now time.Time) {
	interval := p.cfg.HealthInterval.D()
	for _, t := range p.targets {
		delay := time.Duration(rand.Int64N(int64(interval)))
		p.mu.Lock()
		t.nextCheck = now.Add(delay)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.checkLoop(t, delay, interval)
	}
}

func (p *Pool) checkLoop(t *Target, delay, interval time.Duration) {
	defer p.wg.Done()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-timer.C:
		}
		err := p.probe(t)
		select {
		case <-p.stop:
			return // the verdict of a replaced config is not applied
		default:
		}
		p.checkResult(t, err, p.now())
		timer.Reset(interval)
	}
}

// probe sends GET health_path to t within health_timeout on a fresh
// connection (closed after the answer, so a check also proves that the
// target accepts connections). 2xx and 3xx pass; a connect error, a
// timeout or any other status fails.
func (p *Pool) probe(t *Target) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(p.cfg.HealthPath)
	req.Header.SetHost(t.HostHeader)
	req.Header.SetUserAgent("cobaltgw-health-check")
	req.SetConnectionClose()
	resp.SkipBody = true // the connection is closed after the head anyway
	if err := t.check.DoTimeout(req, resp, p.cfg.HealthTimeout.D()); err != nil {
		return err
	}
	if c := resp.StatusCode(); c < 200 || c >= 400 {
		return fmt.Errorf("status %d", c)
	}
	return nil
}
