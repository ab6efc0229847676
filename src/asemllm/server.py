"""`asemllm serve`: the critic over HTTP, with one web page. Standard library only.

    GET  /             the page: drop or pick a photo, see the critique, saliency overlay, attributes
    GET  /health       {"status": "ok", "model", "queue": waiting, "busy": bool}
    POST /v1/critique  the photo as the raw body (Content-Type image/*) or multipart field `photo`;
                       optional ?aspects=a,b -> the critique record plus the overlay as base64

One model worker runs one critique at a time; at most `queue` more wait. Past that a request gets
503 with Retry-After at once, so requests never pile up. Errors are one-line JSON: 400 (not a
usable image), 411/413 (length missing / over the upload limit, judged before the body is read),
503 (full), 504 (over the timeout), 500 (anything unexpected; the server stays up).
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class CritiqueService:
    """One model worker, a bounded queue in front of it, and a timeout on each critique."""

    def __init__(self, critic, queue: int = 4, timeout: float = 60.0, max_pixels: int = 50_000_000):
        self.critic, self.timeout, self.max_pixels = critic, timeout, max_pixels
        self._slots = threading.BoundedSemaphore(1 + max(0, queue))  # the running one + the waiting ones
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="critic")
        self._lock = threading.Lock()
        self._admitted = 0
        self._busy = False

    @property
    def model(self) -> str:
        return getattr(self.critic, "name", type(self.critic).__name__)

    def health(self) -> dict:
        with self._lock:
            busy, admitted = self._busy, self._admitted
        return {"status": "ok", "model": self.model, "queue": max(0, admitted - (1 if busy else 0)), "busy": busy}

    def critique(self, data: bytes, aspects=None, name: str | None = None) -> dict:
        from .images import MIN_SIDE, _check_size

        _check_size("image", _probe(data), MIN_SIDE, self.max_pixels)  # cheap: header only, before queueing
        if not self._slots.acquire(blocking=False):
            raise HTTPError(503, "busy: the critique queue is full; retry shortly", {"Retry-After": "2"})
        with self._lock:
            self._admitted += 1
        try:
            future = self._worker.submit(self._run, data, aspects, name)
        except RuntimeError:  # the worker was shut down
            self._release()
            raise HTTPError(503, "server is shutting down", {"Retry-After": "2"}) from None
        future.add_done_callback(lambda _: self._release())  # the slot frees when the work ends, not the wait
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            raise HTTPError(504, f"the critique took longer than {self.timeout:g} s") from None

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
        self._slots.release()

    def _run(self, data: bytes, aspects, name) -> dict:
        from .images import MIN_SIDE, load_image

        with self._lock:
            self._busy = True
        try:
            photo = load_image(data, min_side=MIN_SIDE, max_pixels=self.max_pixels)
            with tempfile.TemporaryDirectory(prefix="asemllm-serve-") as tmp:
                result = self.critic.critique(photo, aspects=aspects, overlay_dir=tmp)
                overlay = result.get("saliency", {}).get("overlay")
                if overlay:
                    result["overlay_png_base64"] = base64.b64encode(Path(overlay).read_bytes()).decode("ascii")
                    result["overlay_mime"] = "image/jpeg" if overlay.endswith(".jpg") else "image/png"
                    result["saliency"]["overlay"] = None  # a temporary path means nothing to the client
            result["image"] = name or "upload"
            return result
        finally:
            with self._lock:
                self._busy = False

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def _probe(data: bytes) -> tuple[int, int]:
    """The photo's (w, h) from its header alone; ValueError when it is not an image."""
    from PIL import Image

    if not data:
        raise ValueError("empty upload: no image data")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise ValueError(f"image: too many pixels ({' '.join(str(e).split())[:160]})") from None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for junk
        raise ValueError("image: not an image (or a format Pillow cannot read)") from None


def _multipart_photo(content_type: str, body: bytes) -> tuple[bytes, str | None]:
    """The `photo` field of a multipart/form-data body (parsed with `email`, not the removed `cgi`)."""
    from email import policy
    from email.parser import BytesParser

    msg = BytesParser(policy=policy.HTTP).parsebytes(
        b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise HTTPError(400, "malformed multipart/form-data body")
    files = []
    for part in msg.iter_parts():
        field = part.get_param("name", header="content-disposition")
        if field == "photo":
            return part.get_payload(decode=True) or b"", part.get_filename()
        if part.get_filename():
            files.append(part)
    if len(files) == 1:  # one file under another field name: that is the photo
        return files[0].get_payload(decode=True) or b"", files[0].get_filename()
    raise HTTPError(400, "multipart/form-data body has no 'photo' field")


def _finite(x):
    """JSON without NaN/Infinity (browsers' JSON.parse rejects them)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


class Handler(BaseHTTPRequestHandler):
    server_version = "asemllm"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may stall mid-request before its connection is dropped

    # set per server by make_server
    service: CritiqueService
    max_upload: int
    quiet: bool = False

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    def do_GET(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def do_HEAD(self):
        self._guard(self._get)

    def _guard(self, fn):
        try:
            fn()
        except HTTPError as e:
            self._json(e.status, {"error": str(e)}, e.headers)
        except ValueError as e:  # the image's fault: one line naming the problem
            self._json(400, {"error": " ".join(str(e).split())})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - never let one request take the server down
            self.log_message("500: %s: %s", type(e).__name__, e)
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            try:
                self._json(500, {"error": f"internal error: {msg}"})
            except OSError:
                self.close_connection = True

    def _get(self):
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif path == "/health":
            self._json(200, self.service.health())
        elif path == "/v1/critique":
            raise HTTPError(405, "POST a photo to /v1/critique", {"Allow": "POST"})
        else:
            raise HTTPError(404, f"no such path: {path}")

    def _post(self):
        url = urlsplit(self.path)
        if url.path != "/v1/critique":
            self.close_connection = True  # the body stays unread
            raise HTTPError(404, f"no such path: {url.path}")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise HTTPError(411, "send the photo with a Content-Length (chunked bodies are not accepted)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise HTTPError(411, "a Content-Length header is required") from None
        if length < 0:
            self.close_connection = True
            raise HTTPError(400, "negative Content-Length")
        if length > self.max_upload:
            self.close_connection = True  # never read what is too big
            raise HTTPError(413, f"upload of {length:,} bytes is over the {self.max_upload:,}-byte limit")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            raise HTTPError(400, f"body ended after {len(body)} of {length} bytes")
        aspects = _aspects(parse_qs(url.query).get("aspects"))
        ctype = self.headers.get("Content-Type", "")
        name = None
        if ctype.lower().startswith("multipart/form-data"):
            body, name = _multipart_photo(ctype, body)
        t0 = time.perf_counter()
        result = self.service.critique(body, aspects=aspects, name=name)
        result.setdefault("timings", {})["server"] = round(time.perf_counter() - t0, 3)
        self._json(200, result)

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(_finite(obj)).encode("utf-8"), "application/json", headers)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _aspects(values):
    if not values:
        return None
    from .critic.teacher import ASPECTS

    wanted = [a.strip() for v in values for a in v.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in ASPECTS]
    if unknown:
        raise HTTPError(400, f"unknown aspects {unknown}; choose from {list(ASPECTS)}")
    return wanted or None


def make_server(critic, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20,
                max_pixels: int = 50_000_000, timeout: float = 60, queue: int = 4, quiet: bool = False):
    """A ready ThreadingHTTPServer (not yet serving); `server.service` is its CritiqueService."""
    service = CritiqueService(critic, queue=queue, timeout=timeout, max_pixels=max_pixels)
    handler = type("BoundHandler", (Handler,), {"service": service, "max_upload": int(max_upload_mb * 1024 * 1024),
                                                "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.service = service
    return server


def serve(critic, host: str = "127.0.0.1", port: int = 8000, **kw) -> None:
    server = make_server(critic, host, port, **kw)
    h, p = server.server_address[:2]
    print(f"asemllm: serving {server.service.model} on http://{h}:{p}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.service.close()


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>asemllm — photo critique</title>
<style>
:root{--bg:#f6f5f2;--fg:#1d1d1f;--mut:#6b6b70;--acc:#c0462b;--card:#fff;--bar:#e9e6e0}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:18px 28px;border-bottom:1px solid #ddd;background:var(--card)}
header h1{margin:0;font-size:20px} header p{margin:2px 0 0;color:var(--mut)}
main{display:grid;grid-template-columns:minmax(280px,1fr) minmax(320px,1.2fr);gap:22px;padding:22px 28px;max-width:1300px;margin:auto}
@media(max-width:860px){main{grid-template-columns:1fr}}
.card{background:var(--card);border:1px solid #e2e0dc;border-radius:10px;padding:16px}
#drop{display:block;border:2px dashed #b9b5ad;border-radius:10px;padding:28px;text-align:center;cursor:pointer;background:#fbfaf8}
#drop.over{border-color:var(--acc);background:#fff4f0}
#drop input{display:block;margin:10px auto 0}
#status{margin:10px 0 0;color:var(--mut);min-height:1.5em}
#status.err{color:#b00020}
#overlay{width:100%;border-radius:8px;margin-top:12px;display:none}
h2{font-size:16px;margin:0 0 8px}
#critique dl{margin:0} #critique dt{font-weight:600;text-transform:capitalize;margin-top:10px}
#critique dd{margin:2px 0 0} #critique .checks{font-size:.85em}
.attr{display:grid;grid-template-columns:150px 1fr 190px;gap:10px;align-items:center;padding:3px 0;font-size:13px}
.attr .name{text-transform:capitalize}
.track{height:10px;background:var(--bar);border-radius:5px;overflow:hidden}
.fill{height:100%;background:linear-gradient(90deg,#e7a04c,var(--acc));border-radius:5px}
.val{color:var(--mut);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.muted{color:var(--mut)}
</style></head>
<body>
<header><h1>Photo critique</h1><p>Drop a photo to get a critique by aspect, where the eye goes, and what was measured.</p></header>
<main>
<section>
 <div class="card">
  <label id="drop" for="file"><strong>Drop a photo here</strong> or pick one
   <input type="file" id="file" accept="image/*"></label>
  <div id="status" role="status"></div>
  <img id="overlay" alt="saliency overlay: where the eye is drawn">
 </div>
</section>
<section>
 <div class="card"><h2>Critique</h2><div id="critique" class="muted">No photo yet.</div></div>
 <div class="card" style="margin-top:18px"><h2>Measured attributes</h2><div id="attributes" class="muted">—</div></div>
</section>
</main>
<script>
"use strict";
// [low, high, log-scale?]: where a bar is empty and full for each measurement
const RANGES={brightness:[0,1],exposure_ev:[-4,4],highlights_clipped:[0,20],shadows_crushed:[0,20],
 contrast:[0,0.4],dynamic_range:[0,14],colourfulness:[0,150],saturation:[0,1],colour_temperature:[2000,10000],
 colour_cast:[0,20],sharpness:[1,10000,true],subject_sharpness:[1,10000,true],background_sharpness:[1,10000,true],
 focus_separation:[-3,3],noise:[0,10],subject_position:[0,0.3],centre_offset:[0,0.5],subject_size:[0,1],
 balance:[0,1],horizon_tilt:[-15,15],symmetry:[0,1],clutter:[0,0.2]};
const $=id=>document.getElementById(id);
const esc=s=>String(s).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
function frac(name,v,unit){
 if(v===null||v===undefined||!isFinite(v))return 0;
 let r=RANGES[name]||(unit==="0-1"?[0,1]:null);
 if(!r)return Math.abs(v)/(Math.abs(v)+1);
 let [lo,hi,lg]=r; if(lg){v=Math.log10(Math.max(v,lo));lo=Math.log10(lo);hi=Math.log10(hi);}
 return Math.min(1,Math.max(0,(v-lo)/(hi-lo)));
}
function fmt(v){if(v===null||v===undefined)return "n/a";const a=Math.abs(v);
 return a>=1000?v.toFixed(0):a>=10?v.toFixed(1):a>=1?v.toFixed(2):v.toFixed(3);}
function backed(cl){if(!cl||!cl.length)return "";const no=cl.filter(c=>!c.backed).map(c=>c.claim);
 return `<div class="muted checks">${cl.length-no.length} of ${cl.length} claims backed by the measurements`+
  (no.length?`; not: ${esc(no.join(", "))}`:"")+`</div>`;}
function show(r){
 const cl=r.claims||{};
 const c=Object.entries(r.critique||{}).map(([a,t])=>`<dt>${esc(a.replace(/_/g," "))}</dt><dd>${esc(t)}${backed(cl[a])}</dd>`).join("");
 $("critique").className="";$("critique").innerHTML=`<dl>${c}</dl><p class="muted">${esc(r.model||"")}</p>`;
 const rows=Object.entries(r.attributes||{}).map(([n,a])=>{
  const pct=(100*frac(n,a.value,a.unit)).toFixed(1);
  const unit=a.unit&&a.unit!=="0-1"?" "+a.unit:"";
  return `<div class="attr" data-name="${esc(n)}"><span class="name">${esc(n.replace(/_/g," "))}</span>`+
   `<div class="track" title="${esc(fmt(a.value)+unit)}"><div class="fill" style="width:${pct}%"></div></div>`+
   `<span class="val">${esc(fmt(a.value)+unit)} · ${esc(a.level)}</span></div>`;}).join("");
 $("attributes").className="";$("attributes").innerHTML=rows||"—";
 if(r.overlay_png_base64){$("overlay").src=`data:${r.overlay_mime||"image/jpeg"};base64,${r.overlay_png_base64}`;$("overlay").style.display="block";}
}
async function send(file){
 if(!file)return;
 const st=$("status");st.className="";st.textContent=`Critiquing ${file.name}…`;
 const t0=performance.now();
 try{
  const res=await fetch("/v1/critique",{method:"POST",body:file,headers:{"Content-Type":file.type||"application/octet-stream"}});
  let body;try{body=await res.json();}catch(e){body={error:`HTTP ${res.status}`};}
  if(!res.ok){st.className="err";st.textContent=body.error||`HTTP ${res.status}`;return;}
  show(body);st.textContent=`${file.name}: done in ${((performance.now()-t0)/1000).toFixed(1)} s`;
 }catch(e){st.className="err";st.textContent="Could not reach the server: "+e.message;}
}
$("file").addEventListener("change",e=>send(e.target.files[0]));
const drop=$("drop");
["dragenter","dragover"].forEach(t=>drop.addEventListener(t,e=>{e.preventDefault();drop.classList.add("over");}));
["dragleave","drop"].forEach(t=>drop.addEventListener(t,e=>{e.preventDefault();drop.classList.remove("over");}));
drop.addEventListener("drop",e=>send(e.dataTransfer.files[0]));
</script>
</body></html>
"""
