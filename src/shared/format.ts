/** Numbers and durations as people read them, in progress lines, summaries and warnings. */

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 512 → "512 B", 1536 → "1.5 KiB", 13_207_024_435 → "12 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** 4.2 s → "4.2s", 95 s → "1m 35s", 3 h 5 m → "3h 05m". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.floor(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, '0')}h`;
}

/** Messages per second over the elapsed time: "480/s", "0.5/s". */
export function formatRate(count: number, elapsedMs: number): string {
  if (elapsedMs <= 0) return '0/s';
  const rate = (count * 1000) / elapsedMs;
  return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`;
}

/** "3 days", "1 hour", "25 minutes": what an operator reads at a glance. */
export function formatAge(seconds: number): string {
  const unit = (count: number, name: string) => `${count} ${name}${count === 1 ? '' : 's'}`;
  if (seconds < 60) return unit(Math.floor(seconds), 'second');
  if (seconds < 3_600) return unit(Math.floor(seconds / 60), 'minute');
  if (seconds < 48 * 3_600) return unit(Math.floor(seconds / 3_600), 'hour');
  return unit(Math.floor(seconds / 86_400), 'day');
}
