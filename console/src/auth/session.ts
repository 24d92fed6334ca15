/**
 * The API token lives in sessionStorage: it survives reloads of this tab but not closing it,
 * and is never written to localStorage or a cookie.
 */
const KEY = 'gigafab.token';

export const getToken = (): string | null => sessionStorage.getItem(KEY);
export const setToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const clearToken = (): void => sessionStorage.removeItem(KEY);
