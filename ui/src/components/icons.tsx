// Stroke icons drawn for Verity Desk on a 24-unit grid; they inherit `currentColor`.
import type { ComponentChildren } from 'preact';

function Icon({ size = 18, children }: { size?: number; children: ComponentChildren }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width="1.8"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
    >
      {children}
    </svg>
  );
}

type P = { size?: number };

export const ImportIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M12 4v11" />
    <path d="M7.5 10.5 12 15l4.5-4.5" />
    <path d="M4 16.5V19a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-2.5" />
  </Icon>
);

export const CpuIcon = ({ size }: P) => (
  <Icon size={size}>
    <rect x="6" y="6" width="12" height="12" rx="2" />
    <rect x="9.5" y="9.5" width="5" height="5" rx="0.5" />
    <path d="M9 3v3M15 3v3M9 18v3M15 18v3M3 9h3M3 15h3M18 9h3M18 15h3" />
  </Icon>
);

export const GpuIcon = ({ size }: P) => (
  <Icon size={size}>
    <rect x="2.5" y="6" width="19" height="11" rx="1.5" />
    <circle cx="8.5" cy="11.5" r="2.5" />
    <circle cx="15.5" cy="11.5" r="2.5" />
    <path d="M5 17v2.5M9 17v2.5M13 17v2.5" />
  </Icon>
);

export const SunIcon = ({ size }: P) => (
  <Icon size={size}>
    <circle cx="12" cy="12" r="4" />
    <path d="M12 2.5v2M12 19.5v2M2.5 12h2M19.5 12h2M5.3 5.3l1.4 1.4M17.3 17.3l1.4 1.4M5.3 18.7l1.4-1.4M17.3 6.7l1.4-1.4" />
  </Icon>
);

export const MoonIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5Z" />
  </Icon>
);

export const FolderIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2Z" />
  </Icon>
);

export const ScanFaceIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M3 8V5a2 2 0 0 1 2-2h3M16 3h3a2 2 0 0 1 2 2v3M21 16v3a2 2 0 0 1-2 2h-3M8 21H5a2 2 0 0 1-2-2v-3" />
    <circle cx="12" cy="10.5" r="3" />
    <path d="M7.5 17.5a5 5 0 0 1 9 0" />
  </Icon>
);

export const ImageIcon = ({ size }: P) => (
  <Icon size={size}>
    <rect x="3" y="4" width="18" height="16" rx="2" />
    <circle cx="9" cy="9.5" r="1.6" />
    <path d="m4 18 5-5 3.5 3.5L15 14l5 4.5" />
  </Icon>
);

export const VideoIcon = ({ size }: P) => (
  <Icon size={size}>
    <rect x="3" y="6" width="13" height="12" rx="2" />
    <path d="m16 10.5 5-3v9l-5-3Z" />
  </Icon>
);

export const FileIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M6 3h8l4 4v14H6Z" />
    <path d="M14 3v4h4" />
  </Icon>
);

export const InfoIcon = ({ size }: P) => (
  <Icon size={size}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 11v5.5M12 7.6v.2" />
  </Icon>
);

export const ShieldIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M12 3 19.5 5.8V11c0 4.8-3.2 8.3-7.5 10-4.3-1.7-7.5-5.2-7.5-10V5.8Z" />
  </Icon>
);

export const SearchIcon = ({ size }: P) => (
  <Icon size={size}>
    <circle cx="11" cy="11" r="6.5" />
    <path d="m16 16 4.5 4.5" />
  </Icon>
);

export const CloseIcon = ({ size }: P) => (
  <Icon size={size}>
    <path d="M6 6l12 12M18 6 6 18" />
  </Icon>
);
