// Formatting helpers: times, durations, "ago", a user agent in words, a URL's host.
// Owns only pure functions of their arguments (and the clock for "today").
// Knows nothing of the page, the state, the socket or REST.

// "14:05" today, "Mar 3 14:05" another day.
export function hhmm(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  const today = new Date();
  const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === today.toDateString()) return t;
  return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + t;
}

// "42s", "5m 3s", "2h 10m".
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  const hr = Math.floor(m / 60);
  return hr + "h " + (m % 60) + "m";
}

const BROWSERS = [
  [/MicroMessenger\/([\d.]+)/, "WeChat"],
  [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
  [/OPR\/(\d+)/, "Opera"],
  [/SamsungBrowser\/(\d+)/, "Samsung Internet"],
  [/(?:Firefox|FxiOS)\/(\d+)/, "Firefox"],
  [/HeadlessChrome\/(\d+)/, "Headless Chrome"],
  [/(?:Chrome|CriOS)\/(\d+)/, "Chrome"],
  [/MSIE (\d+)/, "Internet Explorer"],
  [/Trident\/.*rv:(\d+)/, "Internet Explorer"],
  [/Version\/(\d+).*Safari/, "Safari"],
];
const SYSTEMS = [
  [/Windows NT 10/, "Windows"],
  [/Windows NT 6\.[23]/, "Windows 8"],
  [/Windows NT 6\.1/, "Windows 7"],
  [/Windows NT 5/, "Windows XP"],
  [/Windows/, "Windows"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/Android/, "Android"],
  [/CrOS/, "ChromeOS"],
  [/Mac OS X/, "macOS"],
  [/Linux/, "Linux"],
];

// "Chrome 120 on Windows · Desktop".
export function describeUa(ua) {
  if (!ua) return "Unknown device";
  let browser = "Unknown browser";
  for (const [re, name] of BROWSERS) {
    const m = re.exec(ua);
    if (m) {
      browser = name + " " + m[1].split(".")[0];
      break;
    }
  }
  let os = "";
  for (const [re, name] of SYSTEMS) {
    if (re.test(ua)) {
      os = name;
      break;
    }
  }
  const kind = /iPad|Tablet/.test(ua) ? "Tablet" : /Mobi|iPhone|Android/.test(ua) ? "Mobile" : "Desktop";
  return browser + (os ? " on " + os : "") + " · " + kind;
}

// "just now", "42s ago", "5m ago", "3h ago", "2d ago".
export function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 10) return "just now";
  if (s < 60) return s + "s ago";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m ago";
  const hr = Math.floor(m / 60);
  if (hr < 24) return hr + "h ago";
  return Math.floor(hr / 24) + "d ago";
}

// The host of a URL, or the text itself when it is no URL.
export function hostOf(url) {
  try {
    return new URL(url).host;
  } catch (e) {
    return url;
  }
}

export function shortId(id) {
  return String(id || "").slice(0, 6);
}

// "1 page", "3 pages".
export function plural(n, one, many) {
  return n + (n === 1 ? " " + one : " " + many);
}
