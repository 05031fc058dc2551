"""Travel times between a station house and the cells its units visit (SPEC §16), in whole
seconds and whole minutes. Without a road network: the straight line × `missions.circuity` at
the mode's speed. With one: the shortest path on the network (each point snapped to its
nearest road node, the snap walked in a straight line), each road at the slower of its own
`speed_kmh` and the mode's."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class RoadNetwork:
    """A road network in metres: nodes (`xy`), directed edges (`start`, `end`, `length_m`,
    `speed_kmh`, NaN = the mode's)."""

    xy: np.ndarray
    start: np.ndarray
    end: np.ndarray
    length_m: np.ndarray
    speed_kmh: np.ndarray

    @classmethod
    def from_frame(cls, roads: gpd.GeoDataFrame, crs) -> RoadNetwork:
        """Every segment of every line of `roads` (WGS84, optional `speed_kmh`, `oneway`) as an
        edge between its two vertices, both ways unless `oneway`; vertices that coincide (to
        the centimetre) are one node."""
        metric = roads.to_crs(crs)
        parts = metric.geometry.explode(index_parts=False)
        owner = parts.index.to_numpy()
        coords, line = shapely.get_coordinates(parts.to_numpy(), return_index=True)
        same_line = line[1:] == line[:-1]
        a, b = np.flatnonzero(same_line), np.flatnonzero(same_line) + 1
        rounded = np.round(coords[:, :2], 2)
        nodes, node_of = np.unique(rounded, axis=0, return_inverse=True)
        node_of = node_of.ravel()
        speed = (
            metric["speed_kmh"].astype(float).to_numpy()
            if "speed_kmh" in metric
            else np.full(len(metric), np.nan)
        )
        oneway = (
            metric["oneway"].fillna(False).astype(bool).to_numpy()
            if "oneway" in metric
            else np.zeros(len(metric), bool)
        )
        position = metric.index.get_indexer(owner)[line[a]]
        length = np.hypot(*(coords[b, :2] - coords[a, :2]).T)
        back = ~oneway[position]
        return cls(
            xy=nodes,
            start=np.r_[node_of[a], node_of[b][back]],
            end=np.r_[node_of[b], node_of[a][back]],
            length_m=np.r_[length, length[back]],
            speed_kmh=np.r_[speed[position], speed[position][back]],
        )

    def seconds(self, points: np.ndarray, speed_kmh: float) -> np.ndarray:
        """Travel seconds between `points` (metres, n × 2) at most at `speed_kmh`: the walk to
        and from the nearest node at the mode's speed plus the shortest path between them;
        points the network does not connect are an hour apart per kilometre of straight
        line (a unit does not go there in a shift)."""
        speed = np.fmin(np.nan_to_num(self.speed_kmh, nan=speed_kmh), speed_kmh) / 3.6
        graph = coo_matrix(
            (self.length_m / speed, (self.start, self.end)), shape=(len(self.xy), len(self.xy))
        ).tocsr()
        snap_m, node = cKDTree(self.xy).query(points)
        sources, back = np.unique(node, return_inverse=True)
        paths = dijkstra(graph, indices=sources)[:, sources][back][:, back]
        walk = snap_m / (speed_kmh / 3.6)
        seconds = paths + walk[:, None] + walk[None, :]
        apart = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
        seconds = np.where(np.isfinite(paths), seconds, apart * 3.6)
        np.fill_diagonal(seconds, 0.0)
        return seconds


def straight_seconds(points: np.ndarray, speed_kmh: float, circuity: float) -> np.ndarray:
    """Travel seconds between `points` (metres, n × 2): straight line × circuity at speed."""
    apart = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return apart * circuity / (speed_kmh / 3.6)


def whole_minutes(seconds: np.ndarray) -> np.ndarray:
    """Travel in whole minutes, rounded up: what the missions' clock times count."""
    return np.ceil(seconds / 60 - 1e-9).astype(np.int64)
