"""Photo statistics for the auxiliary head: what a ViT's patch tokens blur or normalise away.

The ViT sees normalised 14 px patches, pooled to 4x4 tokens for the LM: a 2% patch of blown
highlights, a 5 degree tilt of a horizon or a subject a tenth of the frame off a thirds point barely
moves those tokens. The classic hand-crafted aesthetic features (Datta et al. 2006, Ke et al. 2006:
exposure, colourfulness, rule of thirds, depth-of-field indicators) name these properties directly.
`photo_stats` computes such a vector from the same padded square the model sees (and from the
IASM's density: where the eye goes), with no learned parameters; the head learns what it means.

Every statistic is taken inside the photo, not over the grey padding `images.square` adds: the
padding is found as the leading and trailing rows/columns of the fill colour.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FILL = (124 / 255, 116 / 255, 104 / 255)  # images.square's padding colour
LUMA = (0.2126, 0.7152, 0.0722)
LUMA_BINS, SAT_BINS = 32, 16
QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)
TILT_RANGE, TILT_BINS = 20.0, 41  # near-horizontal lines, 1 degree steps over +-20
TILT_EDGES = 0.05  # the strongest 5% of gradients count as edges (as the horizon measurement)
EDGE_LEVELS = (0.05, 0.1, 0.2, 0.4)  # Sobel magnitudes (luma 0-1, after a 3x3 binomial blur) that count as an edge
BLUR = [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]]
# the vector's parts, in order: name -> width
GROUPS = {"tones": LUMA_BINS + 6 + len(QUANTILES), "colours": SAT_BINS + 10, "sharpness": 4 + 2 * len(EDGE_LEVELS),
          "lines": 8, "geometry": 15}
STATS_DIM = sum(GROUPS.values())
# geometry()'s columns, in order
GEOMETRY = ("cx", "cy", "sx", "sy", "cov", "right", "down", "half", "peak_x", "peak_y", "centre", "thirds", "aspect",
            "entropy", "balance")
# The numbers the teacher's placement, subject-size and balance claims are thresholds of
# (centre_offset, subject_position, subject_size, balance), here over the IASM's map on the 224 px square
SHAPE = ("centre", "thirds", "half", "balance")


def shape_columns() -> list[int]:
    """Where SHAPE's numbers sit in photo_stats' vector (geometry is its last group)."""
    start = STATS_DIM - GROUPS["geometry"]
    return [start + GEOMETRY.index(name) for name in SHAPE]


def photo_stats(images: torch.Tensor, density: torch.Tensor | None = None) -> torch.Tensor:
    """images (B, 3, S, S) in [0, 1], density (B, 1, S, S) summing to 1 or None -> (B, STATS_DIM)."""
    images = images.float()
    content = content_mask(images)  # (B, S, S) 1 inside the photo
    luma = torch.einsum("bchw,c->bhw", images, images.new_tensor(LUMA))
    if density is None:
        density = content.unsqueeze(1)
    density = density.float()[:, 0] * content  # (B, S, S)
    density = density / density.sum((1, 2), keepdim=True).clamp_min(1e-12)
    gx, gy = _gradients(luma)
    parts = [tones(images, luma, content), colours(images, content), sharpness(luma, gx, gy, content, density),
             lines(gx, gy, content), geometry(density, content)]
    return torch.cat(parts, dim=1)


def content_mask(images: torch.Tensor, tol: float = 0.02) -> torch.Tensor:
    """(B, 3, S, S) -> (B, S, S) float: 0 on the padding rows/columns at the edges, 1 elsewhere."""
    fill = images.new_tensor(FILL).view(1, 3, 1, 1)
    pad = (images - fill).abs().amax(1) < tol  # (B, S, S)
    rows, cols = pad.all(2), pad.all(1)  # (B, S) each

    def edges(line):  # only runs touching the border are padding, not a grey stripe inside
        return line.cummin(1).values | line.flip(1).cummin(1).values.flip(1)

    keep = ~(edges(rows)[:, :, None] | edges(cols)[:, None, :])
    return keep.float()


def _mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the last two dims: (B, ..., H, W), (B, H, W) -> (B, ...)."""
    w = w.view(w.shape[0], *([1] * (x.ndim - 3)), *w.shape[-2:])
    return (x * w).sum((-2, -1)) / w.sum((-2, -1)).clamp_min(1e-12)


def _histogram(x: torch.Tensor, w: torch.Tensor, bins: int) -> torch.Tensor:
    """Values in [0, 1] (B, H, W), weights (B, H, W) -> (B, bins) weighted shares."""
    idx = (x * bins).long().clamp(0, bins - 1).flatten(1)
    hist = torch.zeros(x.shape[0], bins, device=x.device).scatter_add_(1, idx, w.flatten(1))
    return hist / hist.sum(1, keepdim=True).clamp_min(1e-12)


def tones(images, luma, content) -> torch.Tensor:
    """Luma histogram and clipping shares, square-rooted so a 2% tail is not lost next to a 40% bin;
    luma quantiles (the median is what exposure meters aim at 18% grey)."""
    hi, lo = images.amax(1), images.amin(1)
    clip = torch.stack([_mean((hi >= t).float(), content) for t in (0.98, 0.95)]
                       + [_mean((luma <= t).float(), content) for t in (0.02, 0.05)]
                       + [_mean((lo >= 0.98).float(), content), _mean((hi <= 0.02).float(), content)], 1)
    inside = luma.flatten(1).where(content.flatten(1) > 0, torch.full_like(luma.flatten(1), float("nan")))
    q = inside.nanquantile(luma.new_tensor(QUANTILES), dim=1).T.nan_to_num(0.5)  # (B, 5); no content: grey
    return torch.cat([_histogram(luma, content, LUMA_BINS).sqrt(), clip.sqrt(), q], 1)


def colours(images, content) -> torch.Tensor:
    """HSV saturation histogram and mean; mean and spread of the opponent channels and their
    colourfulness (Hasler-Süsstrunk); channel means of all pixels and of the bright ones, as log
    ratios to green (white balance)."""
    r, g, b = images.unbind(1)
    hi, lo = images.amax(1), images.amin(1)
    sat = torch.where(hi > 0, (hi - lo) / hi.clamp_min(1e-6), torch.zeros_like(hi))
    rg, yb = r - g, 0.5 * (r + g) - b
    mean_rg, mean_yb = _mean(rg, content), _mean(yb, content)
    std_rg = (_mean(rg ** 2, content) - mean_rg ** 2).clamp_min(0).sqrt()
    std_yb = (_mean(yb ** 2, content) - mean_yb ** 2).clamp_min(0).sqrt()
    means = _mean(images, content).clamp_min(1e-3)  # (B, 3)
    bright = _mean(images, content * hi ** 4).clamp_min(1e-3)
    ratios = torch.stack([means[:, 0] / means[:, 1], means[:, 2] / means[:, 1],
                          bright[:, 0] / bright[:, 1], bright[:, 2] / bright[:, 1]], 1).log()
    opp = torch.stack([mean_rg, mean_yb, std_rg, std_yb], 1) * 4  # ~unit scale
    colourful = torch.hypot(std_rg, std_yb) + 0.3 * torch.hypot(mean_rg, mean_yb)  # M / 255
    extra = torch.stack([colourful * 4, _mean(sat, content)], 1)
    return torch.cat([_histogram(sat, content, SAT_BINS).sqrt(), opp, ratios, extra], 1)  # (B, 16 + 10)


def _conv(x: torch.Tensor, kernel: list[list[float]]) -> torch.Tensor:
    """(B, H, W) filtered with a 3x3 kernel, same size (replicated borders)."""
    k = x.new_tensor(kernel).view(1, 1, 3, 3)
    return F.conv2d(F.pad(x.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), k)[:, 0]


def _gradients(luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel x and y of the luma after a 3x3 binomial blur, (B, H, W) each."""
    smooth = _conv(luma, BLUR)
    return _conv(smooth, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), _conv(smooth, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])


def _inner(content: torch.Tensor, px: int = 3) -> torch.Tensor:
    """The content mask eroded by `px`: filters there see no padding or frame edge."""
    eroded = -F.max_pool2d(-F.pad(content.unsqueeze(1), (px,) * 4), 2 * px + 1, stride=1)
    return eroded[:, 0]


def subject_region(density: torch.Tensor, mass: float = 0.5) -> torch.Tensor:
    """(B, H, W) density summing to 1 -> (B, H, W) bool: the densest pixels holding `mass` of it."""
    flat = density.flatten(1)
    ordered = flat.sort(1, descending=True).values
    k = (ordered.cumsum(1) < mass).sum(1, keepdim=True).clamp(max=flat.shape[1] - 1)
    return density >= ordered.gather(1, k).view(-1, 1, 1)


def sharpness(luma, gx, gy, content, density) -> torch.Tensor:
    """Log Laplacian energy of the whole photo, of the subject region (the densest pixels holding
    half the saliency) and of the rest: focus on the subject and depth of field are the gap. And
    the share of edge pixels at a few strengths in each region: clutter is a busy background."""
    lap2 = _conv(luma * 255, [[0, 1, 0], [1, -4, 1], [0, 1, 0]]) ** 2
    inner = _inner(content, 1)
    subject = subject_region(density).float() * inner
    background = inner - subject
    if_empty = lambda w: torch.where(w.sum((1, 2), keepdim=True) > 0, w, inner)  # noqa: E731 (uniform map)
    subject, background = if_empty(subject), if_empty(background)
    whole, subj, back = (_mean(lap2, w).add(1).log() for w in (inner, subject, background))
    mag = torch.hypot(gx, gy)
    edges = [_mean((mag > t).float(), w).sqrt() for w in (subject, background) for t in EDGE_LEVELS]
    return torch.cat([torch.stack([whole, subj, back, subj - back], 1) / 4, torch.stack(edges, 1)], 1)


def lines(gx, gy, content) -> torch.Tensor:
    """The strongest straight line within +-TILT_RANGE of horizontal (projection profiles, as in
    document deskewing: a Radon transform restricted to near-level lines). The edge map is rotated
    so each angle in 1 degree steps is level; per angle, the best row's share of all edge energy
    and the share of the photo's width its edges cover (a horizon runs across the frame). Kept, for
    both profiles: the best angle (/10), its size, its peak and the level line's value over the
    peak. A tilted horizon is a wide line away from 0. (Given whole, the profiles fit held-out
    photos no better and overfit sooner.) Angle + = rises to the right."""
    mag = torch.hypot(gx, gy) * _inner(content)
    flat = mag.flatten(1)
    threshold = flat.topk(max(1, int(TILT_EDGES * flat.shape[1])), dim=1).values[:, -1].clamp_min(1e-6)
    level_ish = gy.abs() >= gx.abs() * math.tan(math.radians(90 - 2 * TILT_RANGE))  # gradient near vertical
    edges = ((mag >= threshold.view(-1, 1, 1)) & level_ish).float()
    B, H, W = edges.shape
    energy_rows, hit_rows = _level_rows(torch.stack([edges * mag, edges], 1))  # (B, A, H) each
    energy = energy_rows.amax(2) / (edges * mag).sum((1, 2)).clamp_min(1e-6).view(B, 1)  # (B, A)
    width = content.amax(1).sum(1).clamp_min(1).view(B, 1)
    cover = hit_rows.amax(2) / width  # (B, A): the widest line per angle
    return torch.cat([_peak(energy.sqrt()), _peak(cover)], 1)  # (B, 8)


def _peak(profile: torch.Tensor) -> torch.Tensor:
    """(B, TILT_BINS) over the angles -> (B, 4): angle of the peak (/10), its size, the peak, level / peak."""
    angles = torch.linspace(-TILT_RANGE, TILT_RANGE, TILT_BINS, device=profile.device)
    top = profile.amax(1)
    angle = angles[profile.argmax(1)] / 10
    return torch.stack([angle, angle.abs(), top, profile[:, TILT_BINS // 2] / top.clamp_min(1e-6)], 1)


def _level_rows(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, H, W) edge energy and edge mask -> per angle, once rotated so lines at that angle come
    out level: the energy per row and the edge pixels per row (+-1 row of slack), (B, A, H) each."""
    B, _, H, W = maps.shape
    rad = torch.deg2rad(torch.linspace(-TILT_RANGE, TILT_RANGE, TILT_BINS, device=maps.device))
    stacked = maps.reshape(1, B * 2, H, W)  # every photo's two maps share one grid per angle
    energy, hits = [], []
    for a in rad.tolist():  # one angle at a time: (1, 2B, H, W), not (A*B, 2, H, W), in memory
        c, s = math.cos(a), math.sin(a)
        # output (u, v) samples the input at (u, v) rotated by the angle
        rot = maps.new_tensor([[[c, s, 0.0], [-s, c, 0.0]]])
        grid = F.affine_grid(rot, (1, 1, H, W), align_corners=False)
        out = F.grid_sample(stacked, grid, align_corners=False).view(B, 2, H, W)
        energy.append(out[:, 0].sum(2))
        hit = F.max_pool2d(out[:, 1:], (3, 1), stride=1, padding=(1, 0)) > 0.25  # (B, 1, H, W)
        hits.append(hit[:, 0].float().sum(2))
    return torch.stack(energy, 1), torch.stack(hits, 1)


def geometry(density, content) -> torch.Tensor:
    """Where the density sits in the photo's own frame: centroid, spread, tilt of its mass, left/right
    and top/bottom imbalance (and the larger of the two), the share of the frame holding half of it,
    the peak, distances of the centroid to the centre and the nearest thirds point (frame-diagonal
    units), the frame's shape and the density's entropy (1 = uniform: no saliency)."""
    B, S, _ = density.shape
    rows, cols = content.amax(2), content.amax(1)  # (B, S): which rows/columns hold the photo
    h, w = rows.sum(1).clamp_min(1), cols.sum(1).clamp_min(1)
    top, left = rows.argmax(1).float(), cols.argmax(1).float()
    grid = torch.arange(S, device=density.device).float() + 0.5
    ys = (grid.view(1, S) - top.view(B, 1)) / h.view(B, 1)  # (B, S) 0..1 inside the photo
    xs = (grid.view(1, S) - left.view(B, 1)) / w.view(B, 1)
    py, px = density.sum(2), density.sum(1)  # (B, S) marginals
    cy, cx = (py * ys).sum(1), (px * xs).sum(1)
    vy, vx = (py * (ys - cy[:, None]) ** 2).sum(1), (px * (xs - cx[:, None]) ** 2).sum(1)
    cov = torch.einsum("bij,bi,bj->b", density, ys - cy[:, None], xs - cx[:, None])
    right = (px * (xs >= 0.5)).sum(1) * 2 - 1
    down = (py * (ys >= 0.5)).sum(1) * 2 - 1
    sorted_d = density.flatten(1).sort(1, descending=True).values
    half = (sorted_d.cumsum(1) < 0.5).sum(1).float() / (h * w)  # share of the frame holding half
    peak = density.flatten(1).argmax(1)
    peak_y, peak_x = ys.gather(1, (peak // S)[:, None])[:, 0], xs.gather(1, (peak % S)[:, None])[:, 0]
    entropy = -(density * density.clamp_min(1e-12).log()).sum((1, 2)) / (h * w).log()  # 1 = uniform
    diag = torch.hypot(w, h)
    centre = torch.hypot((cx - 0.5) * w, (cy - 0.5) * h) / diag
    thirds = torch.stack([torch.hypot((cx - tx) * w, (cy - ty) * h) / diag
                          for tx in (1 / 3, 2 / 3) for ty in (1 / 3, 2 / 3)], 1).amin(1)
    balance = torch.maximum(right.abs(), down.abs())
    return torch.stack([cx, cy, vx.sqrt(), vy.sqrt(), cov * 10, right, down, half.sqrt(), peak_x, peak_y,
                        centre * 5, thirds * 5, (w / h).log(), entropy, balance], 1)
