; Inno Setup 6 script: per-user installer for the one-folder build of nexus-logger.
;
; Build it with `python packaging\build.py --installer` (which passes the defines below), or by
; hand after `python packaging\build.py`:
;   ISCC /DAppVersion=0.1.0 packaging\windows\nexus-logger.iss
;
; * No admin rights: installs into %LOCALAPPDATA%\Programs\nexus-logger for the user running it.
;   (IT may force a machine-wide install from an elevated prompt with /ALLUSERS.)
; * Start-menu and desktop shortcuts, an uninstaller (Settings > Apps).
; * Upgrades in place: the same AppId finds the earlier install; its program folder is replaced
;   as a whole (no stale libraries), while the configuration, the saved events and the logs in
;   %LOCALAPPDATA%\nexus-logger are never touched, by upgrades nor by the uninstaller.
; * Silent installs for logon scripts: nexus-logger-<version>-setup.exe /VERYSILENT /NORESTART

#ifndef SourceDir
  #define SourceDir "..\dist\nexus-logger"
#endif
#ifndef OutputDir
  #define OutputDir "..\dist\installer"
#endif
#ifndef IconFile
  #define IconFile "..\..\resources\nexus-logger.ico"
#endif
#define AppExe "nexus-logger.exe"
#define CliExe "nexus-logger-cli.exe"
#ifndef AppVersion
  ; Without /DAppVersion, take it from the version resource of the built executable.
  #define AppVersion GetVersionNumbersString(AddBackslash(SourceDir) + AppExe)
#endif
#ifndef AppVersionNumeric
  #define AppVersionNumeric GetVersionNumbersString(AddBackslash(SourceDir) + AppExe)
#endif

[Setup]
; Never change AppId: it is how an upgrade finds (and replaces) the installed version.
AppId={{5B0E3C1A-7F7D-4C2B-9E5D-1D6A2F3B8C41}
AppName=nexus-logger
AppVersion={#AppVersion}
AppVerName=nexus-logger {#AppVersion}
AppPublisher=NexusLIMS facility
AppComments=Session logger for NexusLIMS instruments
VersionInfoVersion={#AppVersionNumeric}
VersionInfoProductName=nexus-logger
VersionInfoDescription=nexus-logger installer
; Per-user: {autopf} is %LOCALAPPDATA%\Programs when running without admin rights.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=commandline
DefaultDirName={autopf}\nexus-logger
DisableDirPage=auto
UsePreviousAppDir=yes
DefaultGroupName=nexus-logger
DisableProgramGroupPage=yes
UninstallDisplayName=nexus-logger
UninstallDisplayIcon={app}\{#AppExe}
SetupIconFile={#IconFile}
OutputDir={#OutputDir}
OutputBaseFilename=nexus-logger-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
; A running nexus-logger holds its files open: ask it to close (Restart Manager) before
; replacing them; never restart Windows for it.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; Replace the program folder as a whole on upgrade: a library the new version no longer ships
; must not stay behind next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\nexus-logger"; Filename: "{app}\{#AppExe}"; Comment: "Log your instrument session"
Name: "{autodesktop}\nexus-logger"; Filename: "{app}\{#AppExe}"; Comment: "Log your instrument session"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,nexus-logger}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Send events saved while the database was unreachable before the program goes away (they are
; kept in %LOCALAPPDATA%\nexus-logger either way, and sent by the next install).
Filename: "{app}\{#CliExe}"; Parameters: "sync"; Flags: runhidden waituntilterminated skipifdoesntexist; RunOnceId: "SyncOutbox"

[UninstallDelete]
; Python byte-code caches or anything else written next to the program.
Type: filesandordirs; Name: "{app}\_internal"
