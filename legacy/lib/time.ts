export const nowIso = (): string => new Date().toISOString();

export const daysFromNow = (days: number): string =>
  new Date(Date.now() + days * 24 * 60 * 60 * 1000).toISOString();

const DAY_MS = 24 * 60 * 60 * 1000;

/** `iso` moved by a whole number of days, in `toISOString()` form. */
export const shiftDays = (iso: string, days: number): string => new Date(Date.parse(iso) + days * DAY_MS).toISOString();
