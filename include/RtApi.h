/*
 * RtApi.h - the IntervalZero RtApi shared-memory calls on a vmshm pool.
 *
 * Existing RTX code that uses RtCreateSharedMemory, RtOpenSharedMemory,
 * RtCloseHandle and GetLastError compiles unchanged against this header and
 * links against libvmshm (Linux) or RtApi.dll (Windows). See RtApi(3) and
 * README.md for the exact semantics and error codes.
 */
#ifndef VMSHM_RTAPI_H
#define VMSHM_RTAPI_H

#ifdef _WIN32
#include <windows.h>
#ifdef VMSHM_BUILDING_DLL
#define RTAPI_EXPORT __declspec(dllexport)
#else
#define RTAPI_EXPORT __declspec(dllimport)
#endif
#else /* !_WIN32 */
#include <stdint.h>

#define RTAPI_EXPORT __attribute__((visibility("default")))
#define WINAPI

typedef void *HANDLE;
typedef uint32_t DWORD;
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef char CHAR;
typedef uint16_t WCHAR; /* one UTF-16 code unit, on every platform */
typedef void VOID;
typedef void *PVOID;
typedef void *LPVOID;
typedef CHAR *LPSTR;
typedef const CHAR *LPCSTR;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef LONG *LPLONG;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef union _LARGE_INTEGER {
	struct {
		DWORD LowPart;
		LONG HighPart;
	} u;
	LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;
typedef union _ULARGE_INTEGER {
	struct {
		DWORD LowPart;
		DWORD HighPart;
	} u;
	ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;
typedef struct _SECURITY_ATTRIBUTES {
	DWORD nLength;
	LPVOID lpSecurityDescriptor;
	BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

#define INFINITE               0xFFFFFFFFu
#define WAIT_OBJECT_0          0x00000000u
#define WAIT_ABANDONED         0x00000080u
#define WAIT_ABANDONED_0       0x00000080u
#define WAIT_TIMEOUT           0x00000102u
#define WAIT_FAILED            0xFFFFFFFFu
/* Access rights of the open calls: accepted and ignored. */
#define SYNCHRONIZE            0x00100000u
#define EVENT_MODIFY_STATE     0x0002u
#define EVENT_ALL_ACCESS       0x001F0003u
#define MUTEX_ALL_ACCESS       0x001F0001u
#define SEMAPHORE_MODIFY_STATE 0x0002u
#define SEMAPHORE_ALL_ACCESS   0x001F0003u
#define ERROR_NOT_OWNER        288L
#define ERROR_TOO_MANY_POSTS   298L

/* TEXT("name"): a char string, or with UNICODE a UTF-16 one, as on Windows. */
#ifndef TEXT
#ifdef UNICODE
#define TEXT(s) u##s
#else
#define TEXT(s) s
#endif
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* Win32 error codes that the calls set (GetLastError). */
#define ERROR_SUCCESS              0L
#define ERROR_FILE_NOT_FOUND       2L
#define ERROR_INVALID_HANDLE       6L
#define ERROR_NOT_ENOUGH_MEMORY    8L
#define ERROR_INVALID_PARAMETER    87L
#define ERROR_INVALID_NAME         123L
#define ERROR_BUSY                 170L
#define ERROR_ALREADY_EXISTS       183L
#define ERROR_FILENAME_EXCED_RANGE 206L
#define ERROR_TIMEOUT              1460L

#define PAGE_READONLY  0x02
#define PAGE_READWRITE 0x04

#ifdef __cplusplus
extern "C" {
#endif
/* Per thread, as on Windows. */
RTAPI_EXPORT DWORD GetLastError(void);
RTAPI_EXPORT void SetLastError(DWORD dwErrCode);
#ifdef __cplusplus
}
#endif
#endif /* _WIN32 */

/* Error codes that <windows.h> may lack in old SDKs. */
#ifndef ERROR_NO_SUCH_DEVICE
#define ERROR_NO_SUCH_DEVICE 433L
#endif
#ifndef ERROR_BAD_FORMAT
#define ERROR_BAD_FORMAT 11L
#endif
#ifndef ERROR_FILE_CORRUPT
#define ERROR_FILE_CORRUPT 1392L
#endif
#ifndef ERROR_OLD_WIN_VERSION
#define ERROR_OLD_WIN_VERSION 1150L
#endif

/* The most handles RtWaitForMultipleObjects takes. */
#ifndef MAX_WFMO
#define MAX_WFMO 64
#endif

/* dwDesiredAccess of RtOpenSharedMemory; flProtect values of wRTOS. */
#define SHM_MAP_READ       1
#define SHM_MAP_WRITE      2
#define SHM_MAP_ALL_ACCESS 3

typedef struct _SHARED_MEMORY_INFO {
	DWORD flProtect; /* as given to RtCreateSharedMemory by the creator */
	DWORD dwSize;    /* the object's size in bytes, as created */
} SHARED_MEMORY_INFO, *PSHARED_MEMORY_INFO;

#define RtGetLastError GetLastError
#define RtSetLastError SetLastError

#ifdef __cplusplus
extern "C" {
#endif

RTAPI_EXPORT HANDLE WINAPI RtCreateSharedMemoryA(DWORD flProtect, DWORD MaximumSizeHigh,
						 DWORD MaximumSizeLow, LPCSTR lpName,
						 VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtCreateSharedMemoryW(DWORD flProtect, DWORD MaximumSizeHigh,
						 DWORD MaximumSizeLow, LPCWSTR lpName,
						 VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtOpenSharedMemoryA(DWORD dwDesiredAccess, BOOL bInheritHandle,
					       LPCSTR lpName, VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtOpenSharedMemoryW(DWORD dwDesiredAccess, BOOL bInheritHandle,
					       LPCWSTR lpName, VOID **location);
RTAPI_EXPORT BOOL WINAPI RtCloseHandle(HANDLE hObject);
RTAPI_EXPORT BOOL WINAPI RtQuerySharedMemory(HANDLE hSharedMemory,
					     SHARED_MEMORY_INFO *pSharedMemoryInfo);

/* Events, mutexes and semaphores, in the one namespace of the pool. */
RTAPI_EXPORT HANDLE WINAPI RtCreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes,
					  BOOL bManualReset, BOOL bInitialState, LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtCreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes,
					  BOOL bManualReset, BOOL bInitialState, LPCWSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenEventA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenEventW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
RTAPI_EXPORT BOOL WINAPI RtSetEvent(HANDLE hEvent);
RTAPI_EXPORT BOOL WINAPI RtResetEvent(HANDLE hEvent);
RTAPI_EXPORT BOOL WINAPI RtPulseEvent(HANDLE hEvent);
RTAPI_EXPORT HANDLE WINAPI RtCreateMutexA(LPSECURITY_ATTRIBUTES lpMutexAttributes,
					  BOOL bInitialOwner, LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtCreateMutexW(LPSECURITY_ATTRIBUTES lpMutexAttributes,
					  BOOL bInitialOwner, LPCWSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenMutexA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenMutexW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
RTAPI_EXPORT BOOL WINAPI RtReleaseMutex(HANDLE hMutex);
RTAPI_EXPORT HANDLE WINAPI RtCreateSemaphoreA(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
					      LONG lInitialCount, LONG lMaximumCount,
					      LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtCreateSemaphoreW(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
					      LONG lInitialCount, LONG lMaximumCount,
					      LPCWSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenSemaphoreA(DWORD dwDesiredAccess, BOOL bInheritHandle,
					    LPCSTR lpName);
RTAPI_EXPORT HANDLE WINAPI RtOpenSemaphoreW(DWORD dwDesiredAccess, BOOL bInheritHandle,
					    LPCWSTR lpName);
RTAPI_EXPORT BOOL WINAPI RtReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount,
					    LPLONG lpPreviousCount);
RTAPI_EXPORT DWORD WINAPI RtWaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
RTAPI_EXPORT DWORD WINAPI RtWaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles,
						   BOOL bWaitAll, DWORD dwMilliseconds);
RTAPI_EXPORT DWORD WINAPI RtWaitForSingleObjectEx(HANDLE hHandle, PULARGE_INTEGER pTimeout);
RTAPI_EXPORT DWORD WINAPI RtWaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles,
						     BOOL bWaitAll, PULARGE_INTEGER pTimeout);

#ifdef __cplusplus
}
#endif

#ifdef UNICODE
#define RtCreateSharedMemory RtCreateSharedMemoryW
#define RtOpenSharedMemory   RtOpenSharedMemoryW
#define RtCreateEvent        RtCreateEventW
#define RtOpenEvent          RtOpenEventW
#define RtCreateMutex        RtCreateMutexW
#define RtOpenMutex          RtOpenMutexW
#define RtCreateSemaphore    RtCreateSemaphoreW
#define RtOpenSemaphore      RtOpenSemaphoreW
#else
#define RtCreateSharedMemory RtCreateSharedMemoryA
#define RtOpenSharedMemory   RtOpenSharedMemoryA
#define RtCreateEvent        RtCreateEventA
#define RtOpenEvent          RtOpenEventA
#define RtCreateMutex        RtCreateMutexA
#define RtOpenMutex          RtOpenMutexA
#define RtCreateSemaphore    RtCreateSemaphoreA
#define RtOpenSemaphore      RtOpenSemaphoreA
#endif

#endif /* VMSHM_RTAPI_H */
