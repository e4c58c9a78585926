// rastro live map: every driver as a dot coloured by status, refreshed every second; a click lists the
// nearest available drivers. Leaflet draws; the data comes from the dispatch API with a bearer key,
// kept in this tab's sessionStorage only (never in the URL, where logs and history would keep it).
(function () {
  "use strict";
  const COLORS = { available: "#2e9d49", busy: "#d9822b", offline: "#8a8a8a" };
  const REFRESH_MS = 1000;
  const NEAREST = { radius_m: 5000, limit: 10 };
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem("rastro-api-key") || "";
  let fitted = false;
  let clickMarker = null;
  let refreshes = 0;

  const map = L.map("map", { preferCanvas: true, worldCopyJump: true }).setView([0, 0], 2);
  const dots = L.layerGroup().addTo(map);
  const nearestLayer = L.layerGroup().addTo(map);

  // A coordinate grid for when no tile server is set (the lab has none): each tile's outline and
  // its north-west corner's latitude and longitude.
  const Grid = L.GridLayer.extend({
    createTile: function (coords) {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      const ctx = tile.getContext("2d");
      ctx.strokeStyle = "#d8d2c4"; ctx.strokeRect(0, 0, size.x, size.y);
      const nw = map.unproject(coords.scaleBy(size), coords.z);
      ctx.fillStyle = "#8c8577"; ctx.font = "10px monospace";
      ctx.fillText(nw.lat.toFixed(3) + ", " + nw.lng.toFixed(3), 4, 12);
      return tile;
    }
  });

  fetch("/map/config.json").then((r) => r.json()).then((cfg) => {
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: cfg.tile_attribution || "" }).addTo(map);
    } else {
      new Grid().addTo(map);
    }
  }).catch((e) => showError("map settings: " + e));

  function showError(text) { $("error").textContent = text; }

  function headers() { return { Authorization: "Bearer " + key }; }

  async function api(path) {
    const r = await fetch(path, { headers: headers() });
    if (r.status === 401) { askKey(); throw new Error("the API key was refused"); }
    const body = await r.json();
    if (!r.ok) { throw new Error(body.message || ("HTTP " + r.status)); }
    return body;
  }

  function askKey() { $("key-form").hidden = false; }

  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    window.rastroMap.setKey($("key").value);
    $("key").value = "";
  });

  async function refresh() {
    if (!key) { askKey(); return; }
    try {
      const data = await api("/v1/map/points");
      dots.clearLayers();
      const bounds = [];
      for (const [status, points] of Object.entries(data.points)) {
        $("n-" + status).textContent = data.counts[status] + (points.length < data.counts[status] ? " (" + points.length + " shown)" : "");
        for (const p of points) {
          L.circleMarker(p, { radius: 3, stroke: false, fillColor: COLORS[status], fillOpacity: 0.85, interactive: false }).addTo(dots);
          if (!fitted) { bounds.push(p); }
        }
      }
      if (!fitted && bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); fitted = true; }
      refreshes += 1;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      showError("");
    } catch (e) {
      showError("refresh: " + e.message);
    }
  }

  async function nearest(latlng) {
    if (clickMarker) { clickMarker.remove(); }
    clickMarker = L.marker(latlng).addTo(map);
    nearestLayer.clearLayers();
    const q = new URLSearchParams({ lat: latlng.lat.toFixed(6), lon: L.Util.wrapNum(latlng.lng, [-180, 180], true).toFixed(6),
      radius_m: NEAREST.radius_m, limit: NEAREST.limit, status: "available" });
    const list = $("nearest");
    list.innerHTML = "";
    try {
      const data = await api("/v1/drivers/nearby?" + q);
      if (!data.drivers.length) { list.innerHTML = "<li>no available driver within 5 km</li>"; }
      for (const d of data.drivers) {
        const li = document.createElement("li");
        li.className = "nearest-driver";
        li.textContent = d.driver_id + " — " + Math.round(d.distance_m) + " m";
        list.appendChild(li);
        L.polyline([latlng, [d.latitude, d.longitude]], { color: COLORS.available, weight: 1 }).addTo(nearestLayer);
      }
    } catch (e) {
      showError("nearest: " + e.message);
    }
  }

  map.on("click", (ev) => nearest(ev.latlng));

  // For operators' scripts and the headless test: set the key without a URL or a command line.
  window.rastroMap = {
    setKey: function (k) { key = k; sessionStorage.setItem("rastro-api-key", k); $("key-form").hidden = true; refresh(); },
    dotCount: function () { return dots.getLayers().length; },
    refreshes: function () { return refreshes; },
    map: map
  };

  refresh();
  setInterval(refresh, REFRESH_MS);
}());
