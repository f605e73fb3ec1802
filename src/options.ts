/** `value` without its undefined fields, so spreading it over defaults keeps the defaults for what was not given. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
