/**
 * How the UI answers: HTML pages that are never cached (they show what one caller may see) and
 * never framed, under a Content-Security-Policy that allows only this server's own script and
 * stylesheet, no inline script or style, and forms posting only back here.
 */
import type { ServerResponse } from 'node:http';
import type { Html } from './html.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export function sendHtml(res: ServerResponse, method: string, status: number, page: Html): void {
  const body = Buffer.from(`<!doctype html>\n${page.text}`, 'utf8');
  res.statusCode = status;
  securityHeaders(res);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', body.length);
  res.end(method === 'HEAD' ? undefined : body);
}

/** 303 after a form (the browser GETs the target), 302 otherwise. Only ever to a path of this UI. */
export function redirect(res: ServerResponse, location: string, status: 302 | 303 = 302): void {
  res.statusCode = status;
  securityHeaders(res);
  res.setHeader('Location', location);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', 0);
  res.end();
}
