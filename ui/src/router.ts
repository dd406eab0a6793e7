/**
 * Hash routing (`#/routes/orders`): the server serves one page at /ui/, every view is a fragment,
 * so a reload or a copied link lands on the same view and nothing is sent to the server about it.
 */
import { useEffect, useState } from 'preact/hooks';

export function currentPath(): string {
  return decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
}

export function useLocation(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const changed = () => setPath(currentPath());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return path;
}

export function navigate(path: string): void {
  location.hash = path;
}

export function href(...parts: string[]): string {
  return '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
}
